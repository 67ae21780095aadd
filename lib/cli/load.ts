/** `ringloop load`: placeholder until the load generator lands (issue 5). */
import { ConfigError } from '../errors';

export async function loadMain(_argv: string[]): Promise<void> {
  throw new ConfigError('ringloop load is not available yet');
}
