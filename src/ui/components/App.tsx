// Owns composing the live view: finished lines (Static) above; title, table, log pane and help bar below.
// State comes in as props; keys go through keyToAction to the onAction prop. No logic beyond that.
import { useRef } from 'react';
import { Box, Text, useInput } from 'ink';
import { counts, keyToAction, layout, logPaneLines, type Action, type FinishedLine, type ViewState } from '../model.js';
import { ContainerTable } from './ContainerTable.js';
import { FinishedLines } from './FinishedLines.js';
import { LogPane } from './LogPane.js';
import { HelpBar } from './HelpBar.js';
import { PullRows } from './PullRows.js';

export interface AppProps {
  state: ViewState;
  /** Finished lines to write above the live area in this batch, and the batch number. */
  lines: FinishedLine[];
  batch: number;
  /** Terminal height in lines. */
  rows: number;
  /** False when stdin is not a TTY: keys are not read. */
  interactive: boolean;
  onAction: (a: Action) => void;
}

export function App({ state, lines, batch, rows, interactive, onAction }: AppProps) {
  // Keys read the state of the latest render: Ink swaps the input handler in an effect, after the
  // frame is drawn, so a key pressed right after a redraw would otherwise act on the previous state.
  const latest = useRef(state);
  latest.current = state;
  useInput((input, key) => {
    const a = keyToAction(input, key, latest.current);
    if (a) onAction(a);
  }, { isActive: interactive });
  const lay = layout(state, rows);
  const visible = state.order.slice(lay.first, lay.first + lay.count).map((n) => state.containers[n]);
  const nameWidth = Math.max(4, ...state.order.map((n) => n.length));
  const { running, total } = counts(state);
  return (
    <>
      <FinishedLines lines={lines} batch={batch} nameWidth={nameWidth} />
      <Box flexDirection="column">
        <Text bold>{`${state.title} — ${running}/${total} running`}</Text>
        <PullRows pulls={state.pullOrder.map((r) => state.pulls[r])} />
        <ContainerTable rows={visible} selected={state.selected} now={state.now} nameWidth={nameWidth}
          hiddenAbove={lay.first} hiddenBelow={state.order.length - lay.first - lay.count} />
        <LogPane services={lay.logServices} lines={logPaneLines(state, lay.logServices, lay.logLines)} nameWidth={nameWidth} height={lay.logLines} />
        <HelpBar quitting={state.quitting} interactive={interactive} leaves={state.quitLeavesRunning} />
      </Box>
    </>
  );
}
