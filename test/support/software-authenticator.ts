/**
 * A software WebAuthn authenticator (ES256, attestation `none`) that answers the way a browser
 * would: clientDataJSON with type, challenge and origin; authenticatorData with the rp id hash,
 * the UP/UV/AT flags, the signature counter and (at registration) the attested credential data
 * with the COSE public key; an ECDSA P-256 signature over authenticatorData ‖ SHA-256(clientDataJSON).
 * Every part can be bent (origin, challenge, counter) to test what the server refuses.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

const b64u = (b: Buffer | Uint8Array): string => Buffer.from(b).toString('base64url');
const sha256 = (b: Buffer | string): Buffer => createHash('sha256').update(b).digest();

/** CBOR major type + length header. */
function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
}
const cborBytes = (b: Buffer): Buffer => Buffer.concat([head(2, b.length), b]);
const cborText = (s: string): Buffer => Buffer.concat([head(3, Buffer.byteLength(s)), Buffer.from(s)]);

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

/** The options a security key page hands to its script (the form's `data-webauthn`), parsed. */
export function webauthnOptionsIn(html: string): { mode: 'create' | 'get'; options: Record<string, any> } {
  const m = /data-webauthn="([^"]*)"/.exec(html);
  if (!m) throw new Error(`no security key form in page:\n${html.slice(0, 2000)}`);
  const json = m[1]!.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return JSON.parse(json) as { mode: 'create' | 'get'; options: Record<string, any> };
}

export interface Bend {
  /** The origin the "browser" reports (a phishing site's, say). */
  origin?: string;
  /** A challenge other than the one the server sent. */
  challenge?: string;
  /** The signature counter to report (default: one more than last time). */
  counter?: number;
  /** The rp id whose hash goes into authenticatorData. */
  rpId?: string;
}

export class SoftwareAuthenticator {
  readonly credentialId = randomBytes(32);
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  /** The last counter reported. */
  counter = 0;

  constructor(
    /** The origin a browser on the real site reports. */
    readonly origin: string,
  ) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  get id(): string {
    return b64u(this.credentialId);
  }

  private coseKey(): Buffer {
    const jwk = this.publicKey.export({ format: 'jwk' });
    const x = Buffer.from(jwk.x!, 'base64url');
    const y = Buffer.from(jwk.y!, 'base64url');
    // {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
    return Buffer.concat([Buffer.from([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21]), cborBytes(x), Buffer.from([0x22]), cborBytes(y)]);
  }

  private clientData(type: string, challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  private counterBytes(bend: Bend): Buffer {
    this.counter = bend.counter ?? this.counter + 1;
    const c = Buffer.alloc(4);
    c.writeUInt32BE(this.counter);
    return c;
  }

  /** navigator.credentials.create's answer, as the page's script posts it (JSON). */
  register(options: Record<string, any>, bend: Bend = {}): string {
    const rpId = bend.rpId ?? (options.rp as { id: string }).id;
    const clientDataJSON = this.clientData('webauthn.create', bend.challenge ?? (options.challenge as string), bend.origin ?? this.origin);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const authData = Buffer.concat([
      sha256(rpId),
      Buffer.from([FLAG_UP | FLAG_UV | FLAG_AT]),
      this.counterBytes({ counter: bend.counter ?? 0 }),
      Buffer.alloc(16), // AAGUID: none
      idLength,
      this.credentialId,
      this.coseKey(),
    ]);
    const attestationObject = Buffer.concat([Buffer.from([0xa3]), cborText('fmt'), cborText('none'), cborText('attStmt'), Buffer.from([0xa0]), cborText('authData'), cborBytes(authData)]);
    return JSON.stringify({
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: { clientDataJSON: b64u(clientDataJSON), attestationObject: b64u(attestationObject), transports: ['usb'] },
      clientExtensionResults: {},
    });
  }

  /** navigator.credentials.get's answer, as the page's script posts it (JSON). */
  assert(options: Record<string, any>, bend: Bend = {}): string {
    const rpId = bend.rpId ?? (options.rpId as string);
    const clientDataJSON = this.clientData('webauthn.get', bend.challenge ?? (options.challenge as string), bend.origin ?? this.origin);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([FLAG_UP | FLAG_UV]), this.counterBytes(bend)]);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), this.privateKey);
    return JSON.stringify({
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: { clientDataJSON: b64u(clientDataJSON), authenticatorData: b64u(authData), signature: b64u(signature) },
      clientExtensionResults: {},
    });
  }
}
