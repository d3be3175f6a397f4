// SPDX-License-Identifier: Apache-2.0
// Every `ecps` command, in the order `ecps --help` lists them. A new command is one file here plus one line below.
import type { EcpsCommand } from '../kit/index';
import broker from './broker';
import codex from './codex';
import demo from './demo';
import eaplog from './eaplog';
import hitl from './hitl';
import hub from './hub';
import init from './init';
import node from './node';
import peat from './peat';

export const commands: readonly EcpsCommand[] = [
  demo,
  broker,
  hub,
  hitl,
  eaplog,
  codex,
  node,
  init,
  peat,
];
