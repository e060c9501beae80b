/** Email over SMTP with nodemailer. */
import nodemailer, { type Transporter } from 'nodemailer';
import { DeliveryFailed } from '../../src/errors.ts';
import type { MessageSender, OutgoingMessage } from '../../src/domain/messages.ts';

export class SmtpSender implements MessageSender {
  private readonly transport: Transporter;

  constructor(url: string, private readonly from: string, timeoutMs = 10_000) {
    // Short timeouts: a hanging SMTP server must give the user a clear error, not a spinner.
    // They travel in the URL's query: nodemailer builds the transport from the URL alone.
    const withTimeouts = new URL(url);
    for (const name of ['connectionTimeout', 'greetingTimeout', 'socketTimeout']) {
      if (!withTimeouts.searchParams.has(name)) withTimeouts.searchParams.set(name, String(timeoutMs));
    }
    this.transport = nodemailer.createTransport(withTimeouts.toString());
  }

  async send(message: OutgoingMessage): Promise<void> {
    if (message.channel !== 'email') throw new DeliveryFailed(`SMTP cannot deliver ${message.channel} messages`);
    try {
      await this.transport.sendMail({
        from: this.from,
        to: message.to,
        subject: message.subject ?? '',
        text: message.text,
        ...(message.html ? { html: message.html } : {}),
      });
    } catch (e) {
      throw new DeliveryFailed(`SMTP delivery failed: ${(e as Error).message}`);
    }
  }
}

/** Routes each channel to its adapter. */
export class ChannelRouter implements MessageSender {
  constructor(private readonly routes: Partial<Record<OutgoingMessage['channel'], MessageSender>>) {}

  async send(message: OutgoingMessage): Promise<void> {
    const sender = this.routes[message.channel];
    if (!sender) throw new DeliveryFailed(`no delivery configured for ${message.channel}`);
    await sender.send(message);
  }
}
