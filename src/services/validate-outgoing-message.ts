import { AppError } from "../platform/errors.ts";
import type { SendInput } from "./outbound-messages.ts";

const rejectedFields = (field: string, message: string) =>
  new AppError("VALIDATION_FAILED", "validation", "The request is invalid", {
    details: { fields: [{ field, message }] },
  });

/** Each message type needs its own content: text, a location, a vCard or a media URL. */
export function validateContent(input: SendInput) {
  switch (input.type) {
    case "text":
      if (!input.text?.trim()) throw rejectedFields("text", "is required for a text message");
      return;
    case "location":
      if (!input.location) throw rejectedFields("location", "is required for a location message");
      return;
    case "contact":
      if (!input.vcard?.trim()) throw rejectedFields("vcard", "is required for a contact message");
      return;
    default:
      if (!input.media?.url)
        throw rejectedFields("media.url", `is required for a ${input.type} message`);
  }
}
