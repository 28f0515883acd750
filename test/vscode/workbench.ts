// Driving the VS Code workbench (code-server 4.100.3 = VS Code 1.100.3) through Chromium.
// Everything goes through the keyboard, the command palette and element waits: no fixed
// sleeps. The selectors are VS Code DOM details: re-check them when code-server is upgraded.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { escapeRegExp } from '../../server/src/engine/util/text';

/** Monaco renders spaces as U+00A0. */
export const norm = (s: string | null | undefined): string => (s ?? '').replace(/\u00a0/g, ' ');

export interface Timeouts {
  /** An element the UI shows in reaction to input. */
  ui: number;
  /** Workbench start, first file search, language server analysis, remote actions. */
  slow: number;
}

export class Workbench {
  constructor(
    readonly page: Page,
    readonly t: Timeouts,
    private readonly shotsDir: string,
  ) {}

  async screenshot(name: string): Promise<string> {
    fs.mkdirSync(this.shotsDir, { recursive: true });
    const file = path.join(this.shotsDir, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** The workbench is up and the folder's files are listed. */
  async waitReady(file: string): Promise<void> {
    await this.page.locator('.explorer-folders-view .monaco-list-row', { hasText: file }).first().waitFor({ timeout: this.t.slow });
  }

  get quickInput(): Locator {
    return this.page.locator('.quick-input-widget input.input');
  }

  /** Opens a quick input with `key` (retried: early key presses can land before keybindings are ready). */
  private async openQuickInput(key: string): Promise<void> {
    const until = Date.now() + this.t.ui;
    for (;;) {
      await this.page.keyboard.press(key);
      try {
        await this.quickInput.waitFor({ state: 'visible', timeout: 3000 });
        return;
      } catch (e) {
        if (Date.now() > until) throw e;
      }
    }
  }

  quickPickRow(text: string | RegExp): Locator {
    return this.page.locator('.quick-input-list .monaco-list-row').filter({ hasText: text }).first();
  }

  /** Runs a command by its palette label (exact prefix match on the row). */
  async runCommand(label: string): Promise<void> {
    const row = this.quickPickRow(new RegExp(`^${escapeRegExp(label)}`));
    // The palette lists the commands known when it opens: right after the workbench is up, an
    // extension's contributions (a view's Focus command) may come a moment later; open it again.
    const until = Date.now() + this.t.ui;
    for (;;) {
      await this.openQuickInput('F1');
      await this.quickInput.fill(`>${label}`);
      try {
        await row.waitFor({ timeout: Math.min(5000, Math.max(1000, until - Date.now())) });
        break;
      } catch (e) {
        if (Date.now() > until) throw e;
        await this.page.keyboard.press('Escape');
        await this.quickInput.waitFor({ state: 'hidden', timeout: this.t.ui });
      }
    }
    await row.click();
    // The palette closes; its rows stay in the DOM, hidden (the command may open an input box at once).
    await row.waitFor({ state: 'hidden', timeout: this.t.ui });
  }

  /** Labels the command palette lists for `filter`. */
  async paletteLabels(filter: string): Promise<string[]> {
    await this.openQuickInput('F1');
    await this.quickInput.fill(`>${filter}`);
    await this.quickPickRow(filter).waitFor({ timeout: this.t.ui });
    const labels = (await this.page.locator('.quick-input-list .monaco-list-row .label-name').allTextContents()).map(norm);
    await this.page.keyboard.press('Escape');
    await this.quickInput.waitFor({ state: 'hidden', timeout: this.t.ui });
    return labels;
  }

  /** Quick Open (Ctrl+P) a workspace file by name; resolves once its editor tab is active. */
  async openFile(name: string): Promise<void> {
    await this.openQuickInput('Control+P');
    await this.quickInput.fill(name);
    // The first file search of a session warms up the server-side ripgrep: slow timeout.
    await this.quickPickRow(name).waitFor({ timeout: this.t.slow });
    await this.page.keyboard.press('Enter');
    await this.activeTab(name).waitFor({ timeout: this.t.ui });
  }

  activeTab(name: string): Locator {
    return this.page.locator('.tabs-container .tab.active', { hasText: name });
  }

  async isDirty(name: string): Promise<boolean> {
    return /\bdirty\b/.test((await this.activeTab(name).getAttribute('class')) ?? '');
  }

  async goToLine(line: number): Promise<void> {
    await this.openQuickInput('Control+G');
    await this.quickInput.fill(`:${line}`);
    // Enter before the picker has taken the typed line in does nothing: wait for its "Go to line N".
    await this.page
      .locator(
        `.quick-input-widget input.input[aria-label^="Go to line ${line}"], .quick-input-list .monaco-list-row[aria-label^="Go to line ${line}"]`,
      )
      .first()
      .waitFor({ timeout: this.t.ui });
    await this.page.keyboard.press('Enter');
    await this.quickInput.waitFor({ state: 'hidden', timeout: this.t.ui });
    await this.page.locator('.editor-group-container .monaco-editor.focused').first().waitFor({ timeout: this.t.ui });
  }

  /** Lines of the active editor's visible text. */
  async editorText(): Promise<string> {
    return norm(await this.page.locator('.editor-group-container .monaco-editor .view-lines').first().innerText());
  }

  squiggles(kind: 'error' | 'warning' | 'info'): Locator {
    return this.page.locator(`.editor-group-container .monaco-editor .squiggly-${kind}`);
  }

  async showProblems(): Promise<void> {
    await this.runCommand('Problems: Focus on Problems View');
    await this.page.locator('.markers-panel').waitFor({ timeout: this.t.ui });
  }

  problem(text: string | RegExp): Locator {
    return this.page.locator('.markers-panel .monaco-list-row').filter({ hasText: text });
  }

  async problemTexts(): Promise<string[]> {
    return (await this.page.locator('.markers-panel .monaco-list-row').allTextContents()).map(norm);
  }

  hover(): Locator {
    return this.page.locator('.monaco-hover:visible');
  }

  /** The rows of the code-action menu (Quick Fix...). */
  actionRow(text: string | RegExp): Locator {
    return this.page.locator('.action-widget .monaco-list-row').filter({ hasText: text });
  }

  /** Selects a row of the code-action menu with the keyboard (the menu blocks pointer events). */
  async chooseAction(text: string | RegExp): Promise<void> {
    const row = this.actionRow(text);
    await row.waitFor({ timeout: this.t.slow });
    for (let i = 0; i < 20 && !/\bfocused\b/.test((await row.getAttribute('class')) ?? ''); i++)
      await this.page.keyboard.press('ArrowDown');
    await this.page.keyboard.press('Enter');
    await row.waitFor({ state: 'detached', timeout: this.t.ui });
  }

  sidebarRow(text: string | RegExp): Locator {
    return this.page.locator('.part.sidebar .monaco-list-row').filter({ hasText: text });
  }

  async sidebarRowLabels(): Promise<string[]> {
    const rows = await this.page.locator('.part.sidebar .monaco-list-row').all();
    return Promise.all(rows.map(async (r) => norm(await r.getAttribute('aria-label'))));
  }

  /** What a person would see at a glance, for failure reports: side bar, welcome text, status bar, toasts, dialog. */
  async situation(): Promise<string[]> {
    const texts = async (sel: string): Promise<string> =>
      (await this.page.locator(sel).allInnerTexts())
        .map((t) => norm(t).replace(/\s+/g, ' ').trim())
        .filter(Boolean)
        .join(' | ')
        .slice(0, 400);
    return [
      `  side bar: ${(await this.sidebarRowLabels()).join(' | ').slice(0, 400)}`,
      `  welcome: ${await texts('.part.sidebar .welcome-view-content')}`,
      `  status bar: ${await texts('.statusbar-item')}`,
      `  toasts: ${await texts('.notifications-toasts .notification-list-item-message')}`,
      `  dialog: ${await texts('.monaco-dialog-box')}`,
      `  quick input: ${(await this.quickInput.isVisible()) ? await this.quickInput.inputValue() : '(closed)'}`,
    ];
  }

  /** Expands a collapsed row of the side bar's tree (a click toggles it). */
  async expand(text: string | RegExp): Promise<void> {
    const row = this.sidebarRow(text).first();
    await row.waitFor({ timeout: this.t.ui });
    if ((await row.getAttribute('aria-expanded')) === 'false') await row.click();
    await this.page
      .locator('.part.sidebar .monaco-list-row[aria-expanded="true"]')
      .filter({ hasText: text })
      .first()
      .waitFor({ timeout: this.t.ui });
  }

  statusItem(text: string | RegExp): Locator {
    return this.page.locator('.statusbar-item').filter({ hasText: text });
  }

  notification(text: string | RegExp): Locator {
    return this.page.locator('.notifications-toasts .notification-list-item-message').filter({ hasText: text });
  }

  /** Waits for a toast with `text`, and for its slide-in to end (for the screenshot). */
  async waitNotification(text: string | RegExp): Promise<void> {
    await this.notification(text).first().waitFor({ timeout: this.t.ui });
    await this.page
      .locator('.notifications-toasts .notification-toast.notification-fade-in-done')
      .filter({ has: this.page.locator('.notification-list-item-message').filter({ hasText: text }) })
      .first()
      .waitFor({ timeout: this.t.ui });
  }

  async clearNotifications(): Promise<void> {
    await this.runCommand('Notifications: Clear All Notifications');
    await this.page
      .locator('.notifications-toasts .notification-toast')
      .first()
      .waitFor({ state: 'detached', timeout: this.t.ui })
      .catch(() => undefined);
  }

  /** Shows an output channel in the panel (Output: Show Output Channels..., the row named exactly `name`). */
  async showOutputChannel(name: string): Promise<void> {
    await this.runCommand('Output: Show Output Channels...');
    await this.quickInput.fill(name);
    const row = this.page
      .locator('.quick-input-list .monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(name)}$`) }) })
      .first();
    await row.waitFor({ timeout: this.t.ui });
    await row.click();
    await this.quickInput.waitFor({ state: 'hidden', timeout: this.t.ui });
    await this.page.locator('.part.panel .monaco-editor .view-lines').first().waitFor({ timeout: this.t.ui });
  }

  dialog(): Locator {
    return this.page.locator('.monaco-dialog-box');
  }

  async dialogButton(label: string): Promise<void> {
    await this.dialog()
      .locator('.monaco-button')
      .filter({ hasText: new RegExp(`^${escapeRegExp(label)}$`) })
      .click({ timeout: this.t.ui });
    await this.dialog().waitFor({ state: 'detached', timeout: this.t.ui });
  }
}
