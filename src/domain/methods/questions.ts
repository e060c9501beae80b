/**
 * Built-in security questions. Chosen (as Entra's list is) for answers that are stable over
 * time, remembered by the user, and not found on a profile page or in public records:
 * no mother's maiden name, birthplace, school or street. Ids are stable: records store them.
 * Never renumber or reuse an id; retire a question by leaving it out of what is offered.
 */
import { createHash } from 'node:crypto';

export interface Question {
  id: string;
  text: string;
}

export const BUILT_IN_QUESTIONS: readonly Question[] = Object.freeze([
  { id: 'q01', text: 'In what city did you meet your first spouse or partner?' },
  { id: 'q02', text: 'What was the name of your first stuffed animal or toy?' },
  { id: 'q03', text: 'What is the first name of your oldest cousin?' },
  { id: 'q04', text: 'What was your childhood nickname that only your family used?' },
  { id: 'q05', text: 'What was the first name of your first boss?' },
  { id: 'q06', text: 'What was the name of the first beach you visited?' },
  { id: 'q07', text: 'What was the make and model of the first car you drove?' },
  { id: 'q08', text: 'In what city or town did your parents meet?' },
  { id: 'q09', text: 'What was the first concert you attended?' },
  { id: 'q10', text: 'What is the middle name of your oldest sibling?' },
  { id: 'q11', text: 'What was the first name of your best friend as a child?' },
  { id: 'q12', text: 'What was the first book you remember reading on your own?' },
  { id: 'q13', text: 'What was the name of the first company you worked for?' },
  { id: 'q14', text: 'What was your favourite food as a child?' },
  { id: 'q15', text: 'What was the first name of your favourite teacher?' },
  { id: 'q16', text: 'In what city did you spend your first night away from home?' },
  { id: 'q17', text: 'What was the destination of your first flight or long trip?' },
  { id: 'q18', text: 'What is the name of the first film you saw in a cinema?' },
  { id: 'q19', text: 'What was the first name of your first roommate?' },
  { id: 'q20', text: 'What was the first musical instrument you learned to play?' },
  { id: 'q21', text: 'What was the first video game you played?' },
  { id: 'q22', text: 'What was the first dish you learned to cook?' },
  { id: 'q23', text: 'What did you call your grandfather when you were small?' },
  { id: 'q24', text: 'What was the name of the first sports team you played on?' },
].map((q) => Object.freeze(q)));

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
