/**
 * Who a request comes from, checked once for every route: {@linkcode Access.who}
 * authenticates the sender (and counts it against its rate), and
 * {@linkcode Access.actingAs} says which client a request acts for.
 * @module
 */
import type { Context } from "hono";
import type { Auth, Principal } from "./auth.ts";
import { ApiError } from "./errors.ts";
import type { RateLimiter } from "./limits.ts";

/** The checks every route makes. */
export interface Access {
  /** The sender of a request, checked for `need` and counted against its rate. */
  who(c: Context, need: "admin" | "client" | "any"): Principal;
  /** The client a request acts for: its token's, or (open mode) the one it names. */
  actingAs(principal: Principal, named: string | undefined): string | undefined;
}

const ADMIN_IS_NO_CLIENT = "The admin token cannot act as a client: enrol one (POST /v1/enrol)";

/** The checks over `auth`, with `limiter` counting each sender's requests. */
export function access(auth: Auth, limiter: RateLimiter): Access {
  return {
    who(c, need) {
      const header = c.req.header("Authorization");
      if (need === "admin") auth.requireAdmin(header);
      const principal = auth.authenticate(header);
      if (need === "client" && principal.role === "admin") {
        throw new ApiError(403, "forbidden", ADMIN_IS_NO_CLIENT);
      }
      if (principal.role !== "open") {
        limiter.take(principal.role === "client" ? principal.clientId : "admin");
      }
      return principal;
    },
    actingAs(principal, named) {
      if (principal.role === "admin" && named !== undefined) {
        throw new ApiError(403, "forbidden", ADMIN_IS_NO_CLIENT);
      }
      if (principal.role !== "client") return named;
      if (named !== undefined && named !== principal.clientId) {
        throw new ApiError(
          403,
          "forbidden",
          `Client "${principal.clientId}" cannot act as "${named.slice(0, 80)}"`,
        );
      }
      return principal.clientId;
    },
  };
}
