/**
 * The routes of enrolment and clients' tokens: enrol with an enrolment token,
 * create enrolment tokens and browser join links (admin), list, enrol and
 * revoke clients (admin). Part of {@linkcode createApp}.
 * @module
 */
import type { Hono } from "hono";
import type { Auth } from "../auth.ts";
import type { Access } from "../_access.ts";
import { ApiError } from "../errors.ts";
import { joinLink, qrSvg } from "../../endpoint/join_link.ts";
import { readBody } from "../read_body.ts";
import type { Operation } from "../../observability/api_operation.ts";
import {
  ClientListSchema,
  EnrolmentTokenSchema,
  EnrolRequestSchema,
  EnrolResponseSchema,
  formatZodError,
  JoinLinkSchema,
  RevokedSchema,
} from "../../../shared/schemas/mod.ts";

/**
 * A small JSON object body (16 KiB at most, within 10 s); an empty body is
 * `{}`. 400 with `code` when it is not a JSON object; `what` names the action.
 */
export async function smallJson(
  request: Request,
  what: string,
  code: "bad_request" | "invalid_failure" = "bad_request",
): Promise<Record<string, unknown>> {
  const text = await readBody(request, { maxBytes: 16 * 1024, timeoutMs: 10_000, what });
  if (text.length === 0) return {};
  try {
    const value = JSON.parse(new TextDecoder().decode(text));
    if (value && typeof value === "object" && !Array.isArray(value)) return value;
  } catch {
    // answered below
  }
  throw new ApiError(400, code, `Cannot ${what}: the body is not JSON, or not an object`);
}

function optionalId(body: Record<string, unknown>, what: string): string | undefined {
  const parsed = EnrolRequestSchema.safeParse(body);
  if (!parsed.success) {
    throw new ApiError(400, "bad_request", `Cannot ${what}: ${formatZodError(parsed.error)}`);
  }
  return parsed.data.clientId;
}

/** Adds the enrolment routes to `app`; `who` checks a request's token as the app does. */
export function enrolmentRoutes(
  app: Hono,
  options: {
    auth: Auth;
    who: Access["who"];
    publicUrl?: () => string;
  },
): void {
  const { auth, who } = options;
  app.post("/v1/enrol", async (c) => {
    const body = await smallJson(c.req.raw, "enrol");
    return c.json(
      auth.enrol(c.req.header("Authorization"), { clientId: optionalId(body, "enrol") }),
      201,
    );
  });
  app.post("/v1/enrolment-tokens", (c) => {
    who(c, "admin");
    return c.json({ token: auth.createEnrolmentToken() }, 201);
  });
  app.post("/v1/join-link", async (c) => {
    who(c, "admin");
    const token = auth.isOpen ? "" : auth.createEnrolmentToken();
    const url = joinLink(options.publicUrl?.() ?? new URL(c.req.url).origin, token);
    return c.json({ url, token, svg: await qrSvg(url) }, 201);
  });
  app.get("/v1/clients", (c) => {
    who(c, "admin");
    return c.json({ clients: auth.clients() });
  });
  app.post("/v1/clients", async (c) => {
    who(c, "admin");
    const body = await smallJson(c.req.raw, "enrol");
    const clientId = optionalId(body, "enrol");
    if (clientId === undefined) {
      throw new ApiError(400, "bad_request", "Cannot enrol: clientId is required");
    }
    return c.json(auth.issue(clientId), 201);
  });
  app.post("/v1/clients/:clientId/revoke", (c) => {
    who(c, "admin");
    auth.revoke(c.req.param("clientId"));
    return c.json({ clientId: c.req.param("clientId"), revoked: true });
  });
}

/** The OpenAPI operations of enrolment, clients' tokens and join links. */
export const enrolmentOperations: Operation[] = [
  {
    method: "post",
    path: "/enrol",
    summary: "Enrol a client with an enrolment token (Bearer); returns its own token",
    access: "any",
    request: { json: EnrolRequestSchema, name: "EnrolRequest" },
    status: 201,
    response: { json: EnrolResponseSchema, name: "EnrolResponse" },
    errors: [400, 401, 409, 413],
  },
  {
    method: "post",
    path: "/enrolment-tokens",
    summary: "Create an enrolment token",
    access: "admin",
    status: 201,
    response: { json: EnrolmentTokenSchema, name: "EnrolmentToken" },
    errors: [],
  },
  {
    method: "post",
    path: "/join-link",
    summary: "Create a browser join link (a new enrolment token) with its QR code",
    access: "admin",
    status: 201,
    response: { json: JoinLinkSchema, name: "JoinLink" },
    errors: [],
  },
  {
    method: "get",
    path: "/clients",
    summary: "The enrolled clients",
    access: "admin",
    status: 200,
    response: { json: ClientListSchema, name: "ClientList" },
    errors: [],
  },
  {
    method: "post",
    path: "/clients",
    summary: "Enrol a client directly",
    access: "admin",
    request: { json: EnrolRequestSchema, name: "EnrolRequest" },
    status: 201,
    response: { json: EnrolResponseSchema, name: "EnrolResponse" },
    errors: [400, 409, 413],
  },
  {
    method: "post",
    path: "/clients/{clientId}/revoke",
    summary: "Revoke a client's token",
    access: "admin",
    status: 200,
    response: { json: RevokedSchema, name: "Revoked" },
    errors: [404],
  },
];
