/** What the domain hands to a delivery adapter (SMTP, SMS gateway, dev outbox). */
export type Channel = 'email' | 'sms' | 'voice';

export interface OutgoingMessage {
  channel: Channel;
  /** Email address or E.164 phone number. */
  to: string;
  subject?: string;
  text: string;
  html?: string;
}

export interface MessageSender {
  /** Rejects with `DeliveryFailed` when the message could not be handed over. */
  send(message: OutgoingMessage): Promise<void>;
}
