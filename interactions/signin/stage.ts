/**
 * A sign-in stage (password, set new password, and later bootstrap proof, second factor,
 * registration): it knows when it is needed, how it renders and how it processes its form.
 * The login prompt finishes only when no stage is needed any more.
 */
import type { Context } from 'koa';
import type { AccountRecord } from '../../src/store/types.ts';
import type { SigninState } from './state.ts';

export interface StageRequest {
  ctx: Context;
  uid: string;
  state: SigninState;
  account?: AccountRecord;
  clientName: string;
  /** The relying party's client_id (audit events name it). */
  clientId: string;
  /** oidc-provider's `login_hint`, if the client sent one. */
  loginHint?: string;
  ip: string;
  /** The client asked for a multi-factor sign-in (`acr_values`). */
  mfaRequested: boolean;
  /** ... and accepts nothing less (no `pwd` alternative in `acr_values`). */
  mfaRequired: boolean;
}

export interface FormErrors {
  /** Shown at the top of the form. */
  form?: string;
  /** Field name → message, tied to the field. */
  fields?: Record<string, string>;
}

/** `done`: the stage is finished; `again`: show the stage's next page (post/redirect/get); else re-render with errors. */
export type StageResult = { done: true } | { done: false; again: true } | { done: false; again?: false; errors: FormErrors; status: number };

export interface Stage {
  /** URL segment of the stage's form: POST /interaction/<uid>/<name>. */
  readonly name: string;
  needed(r: StageRequest): boolean | Promise<boolean>;
  render(r: StageRequest, errors?: FormErrors): string | Promise<string>;
  /**
   * Rendering now would start something outside the state (send a code): such a page is shown
   * under the interaction's lock, like a form submission. Other renders only read.
   */
  startsOnRender?(r: StageRequest): boolean;
  submit(r: StageRequest): Promise<StageResult>;
}
