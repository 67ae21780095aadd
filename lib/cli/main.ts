/**
 * The `ringloop` executable: `serve`, `load`, `--help`, `--version`.
 * Start-up problems print one line naming the cause and exit non-zero.
 */
import { ConfigError } from '../errors';
import { NativeLayerError, loadUws } from '../transports/uws-native';
import { parseServeArgs, serveUsage } from './args';
import { serve } from './serve';

const USAGE = `Usage: ringloop <command> [options]

Commands:
  serve     start a reactor (ringloop serve --help for its options)
  load      drive a server with MessagePack-RPC load

Options:
  --help     show this help
  --version  print the version`;

function version(): string {
  return (require('../../../package.json') as { version: string }).version;
}

function fatal(message: string, code: number): never {
  process.stderr.write(`ringloop: ${message.split('\n')[0]}\n`);
  process.exit(code);
}

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (cmd === '--version' || cmd === '-v') {
    process.stdout.write(version() + '\n');
    return;
  }
  try {
    if (cmd === 'serve') {
      const args = parseServeArgs(rest);
      if (args.help) return void process.stdout.write(serveUsage() + '\n');
      if (args.version) return void process.stdout.write(version() + '\n');
      loadUws(); // refuse the JS fallback before anything else happens
      await serve(rest, args);
      return;
    }
    if (cmd === 'load') {
      const { loadMain } = await import('./load');
      await loadMain(rest);
      return;
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof NativeLayerError) fatal(e.message, 2);
    fatal((e as Error)?.message ?? String(e), 1);
  }
  fatal(`unknown command ${JSON.stringify(cmd)} (try ringloop --help)`, 2);
}
