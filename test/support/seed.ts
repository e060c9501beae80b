/** Test accounts with registered methods written straight into the store (no registration pages). */
import { generateSecret } from 'otplib';
import type { Services } from '../../src/services.ts';
import type { MethodRecord } from '../../src/domain/methods/types.ts';

/** An account with an email method and an authenticator app; returns its id and the TOTP secret. */
export async function seedWithMethods(services: Services, login: string, password: string, admin = false): Promise<{ id: string; totp: string }> {
  const { account } = await services.accounts.create({ login, email: `${login}@example.com`, password, admin });
  const totp = generateSecret();
  const now = services.clock();
  const methods: MethodRecord[] = [
    { id: `e-${login}`, kind: 'email', address: `${login}.private@example.org`, registeredAt: now, confirmedAt: now },
    { id: `t-${login}`, kind: 'authenticator_app', secret: services.box.seal(totp), lastStep: 0, registeredAt: now, confirmedAt: now },
  ];
  await services.accounts.update(account.id, (a) => ({ ...a, methods, bootstrapProvenAt: now }));
  return { id: account.id, totp };
}
