// Entry point of the livepatch language server (stdio or IPC, as the client chooses).

import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import { LivepatchServer } from './lsp/livepatchServer';

const connection = createConnection(ProposedFeatures.all);
new LivepatchServer(connection).register();
connection.listen();
