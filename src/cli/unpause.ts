// `niwa unpause NAME...`: thaw containers frozen by niwa pause (see pause.ts).
import { freezerVerb } from './pause.js';

export const verb = freezerVerb('unpause', 'thaw containers frozen by niwa pause');
