// What the VS Code client and the language server agree on: the server's own requests
// (requests.ts), the findings and refusals they carry, and the module-name rule the client
// applies before it asks for a module. The findings' wire shape and the refusal line are
// the engine's (engine/report), the same for livepatch-check's output.
// client/ imports only this and the engine's public entry; boundary.test.ts enforces it.

export * from './requests';
export { toWireFinding, formatRefusal, type WireFinding, type WireRefusal } from '../engine/report/wire';
export { moduleNameFrom } from '../engine/generate/moduleName';
