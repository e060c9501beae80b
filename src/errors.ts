/**
 * The one error hierarchy. Each error has a stable `id` (also the message-catalog key the
 * pages and the API use) and an HTTP status; `expose` is false for 5xx, whose details the
 * error handler hides behind a generic message.
 */
export class RekeyError extends Error {
  readonly status: number;
  readonly id: string;
  readonly expose: boolean;
  /** Extra fields safe to show (e.g. retryAfter seconds). */
  readonly details: Record<string, unknown>;
  /** Set when the message is the kind's standard one: pages show the catalog text `error.<id>`. */
  standardMessage = false;

  constructor(id: string, status: number, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.id = id;
    this.status = status;
    this.expose = status < 500;
    this.details = details;
  }
}

function kind(id: string, status: number, defaultMessage: string) {
  return class extends RekeyError {
    constructor(message = defaultMessage, details: Record<string, unknown> = {}) {
      super(id, status, message, details);
      this.standardMessage = message === defaultMessage;
    }
  };
}

/** Bad configuration: start-up prints the message alone and exits non-zero. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const BadRequest = kind('bad_request', 400, 'The request is malformed.');
export const InvalidInput = kind('invalid_input', 400, 'Some fields are missing or invalid.');
export const CsrfFailed = kind('csrf_failed', 403, 'The form expired or was sent from elsewhere. Please try again.');
export const NotFound = kind('not_found', 404, 'This page does not exist.');
export const SessionExpired = kind('session_expired', 400, 'This sign-in has expired. Please start again from the application.');
export const Conflict = kind('conflict', 409, 'That already exists.');
/** Another request of the same sign-in, session or flow is being processed: this one changed nothing. */
export const Busy = kind('busy', 409, 'This step is already being processed. Wait a moment, then reload the page.');
export const PayloadTooLarge = kind('payload_too_large', 413, 'The request is too large.');
export const UnsupportedMediaType = kind('unsupported_media_type', 415, 'This content type is not accepted.');
export const TooManyRequests = kind('too_many_requests', 429, 'Too many attempts. Please try again later.');
export const StoreUnavailable = kind('store_unavailable', 503, 'The service is temporarily unavailable. Please try again in a moment.');
export const Internal = kind('internal', 500, 'Something went wrong on our side. Please try again.');
export const DeliveryFailed = kind('delivery_failed', 502, 'The message could not be sent. Please try again or choose another way.');
