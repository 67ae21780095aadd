/** Reply bookkeeping shared by the WebSocket and TCP test clients. */
import { encodeNotification, encodeRequest } from '../../lib/protocol/codec';

export interface Reply {
  msgid: number;
  error: { code: string; message: string; data?: unknown } | null;
  result: unknown;
}

export abstract class ReplyBook {
  readonly replies: Reply[] = [];
  /** Server notifications received, as [method, params] (e.g. ringloop.goaway). */
  readonly notifications: Array<[string, unknown[]]> = [];
  private waiters = new Map<number, (r: Reply) => void>();
  private nextId = 1;

  /** Sends bytes holding complete MessagePack-RPC messages. */
  protected abstract send(bytes: Uint8Array): void;

  /** Records one decoded server message; anything but a response or a notification is a test failure. */
  protected received(m: unknown): void {
    if (Array.isArray(m) && m[0] === 2 && m.length === 3) {
      this.notifications.push([m[1] as string, m[2] as unknown[]]);
      return;
    }
    const [type, msgid, error, result] = m as [number, number, Reply['error'], unknown];
    if (type !== 1) throw new Error(`server sent message type ${type}`);
    const r: Reply = { msgid, error, result };
    this.replies.push(r);
    const w = this.waiters.get(msgid);
    if (w) {
      this.waiters.delete(msgid);
      w(r);
    }
  }

  id(): number {
    return this.nextId++;
  }

  /** Resolves with the reply to msgid (whenever it arrives). */
  reply(msgid: number): Promise<Reply> {
    const have = this.replies.find((r) => r.msgid === msgid);
    if (have) return Promise.resolve(have);
    return new Promise((resolve) => this.waiters.set(msgid, resolve));
  }

  call(method: string, params: unknown[]): Promise<Reply> {
    const id = this.id();
    this.send(encodeRequest(id, method, params));
    return this.reply(id);
  }

  notify(method: string, params: unknown[]): void {
    this.send(encodeNotification(method, params));
  }
}
