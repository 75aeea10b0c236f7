export { formatGoDuration, parseGoDuration } from './formats/duration.js';
