// `niwa push NAME [DEST]`: upload an image from the store to its registry (placeholder until push.ts lands).
import type { Verb } from './main.js';
import { UserError } from '../errors.js';

export const verb: Verb = {
  summary: 'upload an image from the store to a registry',
  usage: 'niwa push NAME',
  async run() {
    throw new UserError('E_USAGE', 'push: not available yet');
  },
};
