import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

const VERSION = "v1";

/**
 * AES-256-GCM for provider secrets at rest. Output: `v1.<iv>.<tag>.<ciphertext>` in
 * base64url; the version prefix leaves room for key rotation.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error("the encryption key must be 32 bytes");
    this.key = key;
  }

  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const data = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), data]
      .map((p) => (typeof p === "string" ? p : p.toString("base64url")))
      .join(".");
  }

  decrypt(sealed: string): string {
    const [version, iv, tag, data] = sealed.split(".");
    if (version !== VERSION || !iv || !tag || data === undefined)
      throw new Error("not a sealed secret");
    const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64url"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([
      decipher.update(Buffer.from(data, "base64url")),
      decipher.final(),
    ]).toString("utf8");
  }
}

/**
 * The key from ENCRYPTION_KEY (base64 of 32 bytes), or, for embedded setups, one
 * generated once into the data directory (readable by the owner only).
 */
export function loadEncryptionKey(
  configured: string | undefined,
  keyFile: string,
): { key: Buffer; generated: boolean } {
  if (configured) return { key: Buffer.from(configured, "base64"), generated: false };
  if (existsSync(keyFile))
    return { key: Buffer.from(readFileSync(keyFile, "utf8").trim(), "base64"), generated: false };
  mkdirSync(dirname(keyFile), { recursive: true });
  const key = randomBytes(32);
  writeFileSync(keyFile, key.toString("base64"), { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  return { key, generated: true };
}
