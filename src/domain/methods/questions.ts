/**
 * Built-in security questions. Chosen (as Entra's list is) for answers that are stable over
 * time, remembered by the user, and not found on a profile page or in public records:
 * no mother's maiden name, birthplace, school or street. Ids are stable: records store them.
 * Never renumber or reuse an id; retire a question by leaving it out of what is offered.
 */
import { createHash } from 'node:crypto';
import { en } from '../../i18n/en.ts';
import { t } from '../../i18n/index.ts';

export interface Question {
  id: string;
  text: string;
}

export const BUILT_IN_QUESTIONS: readonly Question[] = Object.freeze([
  { id: 'q01', text: en['question.q01'] },
  { id: 'q02', text: en['question.q02'] },
  { id: 'q03', text: en['question.q03'] },
  { id: 'q04', text: en['question.q04'] },
  { id: 'q05', text: en['question.q05'] },
  { id: 'q06', text: en['question.q06'] },
  { id: 'q07', text: en['question.q07'] },
  { id: 'q08', text: en['question.q08'] },
  { id: 'q09', text: en['question.q09'] },
  { id: 'q10', text: en['question.q10'] },
  { id: 'q11', text: en['question.q11'] },
  { id: 'q12', text: en['question.q12'] },
  { id: 'q13', text: en['question.q13'] },
  { id: 'q14', text: en['question.q14'] },
  { id: 'q15', text: en['question.q15'] },
  { id: 'q16', text: en['question.q16'] },
  { id: 'q17', text: en['question.q17'] },
  { id: 'q18', text: en['question.q18'] },
  { id: 'q19', text: en['question.q19'] },
  { id: 'q20', text: en['question.q20'] },
  { id: 'q21', text: en['question.q21'] },
  { id: 'q22', text: en['question.q22'] },
  { id: 'q23', text: en['question.q23'] },
  { id: 'q24', text: en['question.q24'] },
].map((q) => Object.freeze(q)));

const BUILT_IN_IDS = new Set(BUILT_IN_QUESTIONS.map((q) => q.id));

/** A question's text in the reader's language (custom questions are shown as configured). */
export function questionText(q: Question): string {
  return BUILT_IN_IDS.has(q.id) ? t(`question.${q.id}`) : q.text;
}

const ID = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * The questions offered: the built-ins (unless `builtIn` is false) followed by custom ones.
 * Throws on a malformed or duplicate id, or an empty text, so a config mistake fails at start.
 */
export function offeredQuestions(custom: readonly Question[] = [], builtIn = true): Question[] {
  const list = [...(builtIn ? BUILT_IN_QUESTIONS : []), ...custom];
  const ids = new Set<string>();
  for (const q of list) {
    if (!ID.test(q.id)) throw new Error(`security question id "${q.id}" must be 1-32 letters, digits, _ or -`);
    if (ids.has(q.id)) throw new Error(`security question id "${q.id}" is used twice`);
    if (q.text.trim() === '') throw new Error(`security question "${q.id}" has no text`);
    ids.add(q.id);
  }
  return list.map((q) => ({ id: q.id, text: q.text.trim() }));
}

/**
 * Custom questions from config (`SSPR_CUSTOM_QUESTIONS`, text only) with ids derived from the
 * text: stable when the list is reordered, new when a question is reworded (an answer to the
 * old wording must not count for the new one).
 */
export function customQuestions(texts: readonly string[]): Question[] {
  return texts.map((raw) => {
    const text = raw.normalize('NFKC').trim().replace(/\s+/g, ' ');
    return { id: `c${createHash('sha256').update(text.toLowerCase()).digest('hex').slice(0, 10)}`, text };
  });
}
