/**
 * Security questions: a weak method (knowledge, often guessable), off by default, never the only
 * proof and never for admins. Register: pick `registerCount` distinct questions and answer each;
 * answers are normalized and stored as argon2id. Challenge: `answerCount` of the registered
 * questions drawn at random once per flow; all must be right, and all are always checked.
 */
import { t } from '../../i18n/index.ts';
import { randomInt } from 'node:crypto';
import type { Clock } from '../../store/types.ts';
import { charLength } from '../normalize.ts';
import { randomId } from '../secrets.ts';
import { offeredQuestions, questionText, type Question } from './questions.ts';
import type { FormInput, Method, MethodContext, MethodError, SecurityQuestionsMethod, StepResult } from './types.ts';

export const ANSWER_MIN = 3;
export const ANSWER_MAX = 40;

export interface AnswerHasher {
  hash(s: string): Promise<string>;
  verify(hash: string, s: string): Promise<boolean>;
}

export interface SecurityQuestionsDeps {
  /** argon2id, e.g. PasswordHasher. */
  hasher: AnswerHasher;
  /** Custom questions offered after the built-in ones. */
  questions?: readonly Question[];
  /** Offer the built-in questions too (default true). */
  builtIn?: boolean;
  /** Questions to answer at registration, 3–5. */
  registerCount: number;
  /** Questions to answer at a challenge, 3–5 and at most `registerCount`. */
  answerCount: number;
  /** Integer in [0, n); defaults to the CSPRNG. */
  random?: (n: number) => number;
  /** Defaults to the request's `ctx.clock`. */
  clock?: Clock;
}

/** NFKC, lower case, trimmed, inner whitespace collapsed: "  Blue   Car" and "ｂｌｕｅ car" are equal. */
export function normalizeAnswer(raw: string): string {
  return raw.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, ' ');
}

const notAllowed: MethodError = { id: 'method_not_allowed', final: true };
const stateInvalid: MethodError = { id: 'method_state_invalid', final: true };
const fail = (error: MethodError) => ({ ok: false as const, error });

function checkCount(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 3 || n > 5) throw new Error(`security questions ${name} must be 3-5, got ${n}`);
}

export function securityQuestionsMethod(deps: SecurityQuestionsDeps): Method<SecurityQuestionsMethod> {
  const { hasher, registerCount, answerCount } = deps;
  checkCount('registerCount', registerCount);
  checkCount('answerCount', answerCount);
  if (answerCount > registerCount) throw new Error('security questions answerCount cannot exceed registerCount');
  const offered = offeredQuestions(deps.questions ?? [], deps.builtIn ?? true);
  if (offered.length < registerCount) throw new Error(`security questions: ${registerCount} to answer but only ${offered.length} offered`);
  const byId = new Map(offered.map((q) => [q.id, q]));
  const random = deps.random ?? ((n: number) => randomInt(n));
  const now = (ctx: MethodContext): number => (deps.clock ?? ctx.clock)();

  /** The first problem in form order, or the normalized pairs. */
  function validate(count: number, input: FormInput): StepResult<{ questionId: string; answer: string }[]> {
    const pairs: { questionId: string; answer: string }[] = [];
    for (let i = 1; i <= count; i += 1) {
      const qField = `question_${i}`;
      const aField = `answer_${i}`;
      const questionId = (input[qField] ?? '').trim();
      if (questionId === '') return fail({ id: 'question_required', field: qField });
      if (!byId.has(questionId)) return fail({ id: 'question_unknown', field: qField });
      if (pairs.some((p) => p.questionId === questionId)) return fail({ id: 'question_repeated', field: qField });
      const answer = normalizeAnswer(input[aField] ?? '');
      const length = charLength(answer);
      if (length < ANSWER_MIN) return fail({ id: 'answer_too_short', field: aField, vars: { min: ANSWER_MIN } });
      if (length > ANSWER_MAX) return fail({ id: 'answer_too_long', field: aField, vars: { max: ANSWER_MAX } });
      if (pairs.some((p) => p.answer === answer)) return fail({ id: 'answer_repeated', field: aField });
      pairs.push({ questionId, answer });
    }
    return { ok: true, value: pairs };
  }

  /** `count` distinct items, uniformly (partial Fisher–Yates). */
  function draw<T>(items: readonly T[], count: number): T[] {
    const pool = [...items];
    for (let i = 0; i < count; i += 1) {
      const j = i + random(pool.length - i);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    return pool.slice(0, count);
  }

  return {
    kind: 'security_questions',
    strong: false,
    amr: 'kba',
    mask: () => t('method.security_questions'),
    destination: () => undefined,

    async startRegistration(ctx) {
      if (ctx.admin) return fail(notAllowed);
      return { ok: true, value: { pending: { count: registerCount }, display: { questions: offered.map((q) => ({ id: q.id, text: questionText(q) })) } } };
    },

    async finishRegistration(ctx, pending, input): Promise<StepResult<SecurityQuestionsMethod>> {
      if (ctx.admin) return fail(notAllowed);
      const { count } = pending;
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 3 || count > 5) return fail(stateInvalid);
      const checked = validate(count, input);
      if (!checked.ok) return checked;
      const answers = await Promise.all(checked.value.map(async (p) => ({ questionId: p.questionId, hash: await hasher.hash(p.answer) })));
      const at = now(ctx);
      return { ok: true, value: { id: randomId(), kind: 'security_questions', registeredAt: at, confirmedAt: at, answers } };
    },

    async startChallenge(ctx, record) {
      if (ctx.admin) return fail(notAllowed);
      const wanted = Math.min(answerCount, record.answers.length);
      // A question retired from config since registration cannot be shown.
      const known = record.answers.map((a) => a.questionId).filter((id) => byId.has(id));
      if (wanted === 0 || known.length < wanted) return fail({ id: 'questions_unavailable', final: true });
      const questionIds = draw(known, wanted);
      return { ok: true, value: { pending: { questionIds }, display: { questions: questionIds.map((id) => ({ id, text: questionText(byId.get(id)!) })) } } };
    },

    async verifyChallenge(ctx, record, pending, input): Promise<StepResult<{ updated?: SecurityQuestionsMethod }>> {
      if (ctx.admin) return fail(notAllowed);
      const { questionIds } = pending;
      if (!Array.isArray(questionIds) || questionIds.length === 0) return fail(stateInvalid);
      const hashes: string[] = [];
      for (const id of questionIds) {
        const stored = record.answers.find((a) => a.questionId === id);
        if (typeof id !== 'string' || !stored || hashes.includes(stored.hash)) return fail(stateInvalid);
        hashes.push(stored.hash);
      }
      // Every answer is verified, right or wrong, so timing does not tell which one failed.
      const results = await Promise.all(hashes.map((hash, i) => hasher.verify(hash, normalizeAnswer(input[`answer_${i + 1}`] ?? ''))));
      if (!results.every(Boolean)) return fail({ id: 'answers_wrong' });
      return { ok: true, value: { updated: { ...record, lastUsedAt: now(ctx) } } };
    },
  };
}
