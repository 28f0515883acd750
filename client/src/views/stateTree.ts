// The Patch State view: a TreeDataProvider over the last snapshot of the active
// target, refreshed on demand, after every action, and gently while a
// transition is in progress. Also drives the status bar item and context keys.

import * as vscode from 'vscode';
import type { LivepatchState } from '../remote/state';
import { readState } from '../deploy/operations';
import { stateNodes, statusText, type StateNode } from './stateNodes';
import type { Target, Targets } from '../targets';
import type { Log } from '../log';

export class StateView implements vscode.TreeDataProvider<StateNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<StateNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private nodes: StateNode[] = [];
  state: LivepatchState | null = null;
  error: string | null = null;
  private poll: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | null = null;
  readonly status = vscode.window.createStatusBarItem('livepatch.target', vscode.StatusBarAlignment.Left, 10);

  constructor(
    private readonly targets: Targets,
    private readonly log: Log,
  ) {
    this.status.name = 'Livepatch target';
    this.status.command = 'livepatch.state.focus';
    this.updateStatus();
  }

  /** The view, once created: its title names the active target. */
  private treeView: vscode.TreeView<StateNode> | undefined;

  createView(viewId: string): vscode.TreeView<StateNode> {
    this.treeView = vscode.window.createTreeView(viewId, { treeDataProvider: this });
    this.updateStatus();
    return this.treeView;
  }

  getTreeItem(n: StateNode): vscode.TreeItem {
    const item = new vscode.TreeItem(
      n.label,
      n.children.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None,
    );
    item.id = n.id;
    item.description = n.description;
    item.tooltip = n.tooltip;
    item.contextValue = n.contextValue;
    if (n.icon) item.iconPath = new vscode.ThemeIcon(n.icon);
    if (n.contextValue?.startsWith('patch')) item.collapsibleState = vscode.TreeItemCollapsibleState.Expanded;
    return item;
  }

  getChildren(n?: StateNode): StateNode[] {
    return n ? n.children : this.nodes;
  }

  /** Re-reads the target's state (one round trip); concurrent calls share one read. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /**
   * A state an action just read (load, disable, unload return the state they end in):
   * shown without another round trip to the target.
   */
  show(state: LivepatchState): void {
    const t = this.targets.active();
    if (!t) return;
    this.setState(t, state);
    this.published();
  }

  private setState(t: Target, state: LivepatchState): void {
    this.state = state;
    this.error = null;
    this.nodes = stateNodes(t.settings.name, state);
    for (const w of state.warnings) this.log.warn(`state: ${w}`);
  }

  private async doRefresh(): Promise<void> {
    const t = this.targets.active();
    void vscode.commands.executeCommand('setContext', 'livepatch.hasTarget', !!t);
    if (!t) {
      this.logOnce('no test VM is configured (livepatch.targets)');
      this.state = null;
      this.error = null;
      this.nodes = [];
    } else if (!vscode.workspace.isTrusted) {
      this.logOnce(`${t.settings.name}: the workspace is not trusted, so its state is not read`);
      this.nodes = [];
    } else {
      try {
        const t0 = Date.now();
        const state = await readState(t.ssh, t.settings);
        const n = state.patches.length;
        this.logOnce(
          `${t.settings.name}: kernel ${state.kernelRelease}, ${n} patch${n === 1 ? '' : 'es'}${state.transition ? ', in transition' : ''}`,
          Date.now() - t0,
        );
        this.setState(t, state);
      } catch (err) {
        this.error = (err as Error).message;
        this.state = null;
        this.nodes = [];
        this.log.warn(`cannot read the state of ${t.settings.name}: ${this.error}`);
        this.lastSituation = '';
      }
    }
    this.published();
  }

  /** The view's situation, logged when it changes (not on every poll). */
  private lastSituation = '';

  private logOnce(situation: string, ms?: number): void {
    if (situation === this.lastSituation) return;
    this.lastSituation = situation;
    this.log.info(`state: ${situation}${ms === undefined ? '' : ` (read in ${ms} ms)`}`);
  }

  private published(): void {
    void vscode.commands.executeCommand('setContext', 'livepatch.targetUnreachable', !!this.error);
    this.updateStatus();
    this.emitter.fire(undefined);
    this.schedulePoll();
  }

  /** While a transition runs (or the target is down), look again every few seconds. */
  private schedulePoll(): void {
    if (this.poll) clearTimeout(this.poll);
    this.poll = undefined;
    const busy = !!this.state?.transition || (!!this.error && !!this.targets.active());
    if (!busy) return;
    const seconds = vscode.workspace.getConfiguration('livepatch').get<number>('statePollSeconds') ?? 2;
    this.poll = setTimeout(() => void this.refresh(), Math.max(1, seconds) * 1000 * (this.error ? 5 : 1));
  }

  private updateStatus(): void {
    const t = this.targets.active();
    // The title, not the description: a view alone in its container shows no description.
    if (this.treeView) this.treeView.title = t ? `Patch State · ${t.settings.name}` : 'Patch State';
    if (!t) {
      this.status.hide();
      return;
    }
    this.status.text = statusText(t.settings.name, this.state, this.error);
    this.status.tooltip = this.error ? `${t.settings.destination}: ${this.error}` : `${t.settings.destination} (${t.settings.backend})`;
    this.status.backgroundColor = this.error ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.status.show();
  }

  dispose(): void {
    if (this.poll) clearTimeout(this.poll);
    this.status.dispose();
    this.emitter.dispose();
  }
}
