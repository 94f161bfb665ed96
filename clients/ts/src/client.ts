/**
 * A small typed client of the Vanguard Insurance API: the calls a portal makes, end to end.
 *
 * `schema.d.ts` is generated from the server's /api/openapi.json by openapi-typescript (`npm run generate`);
 * the test suite regenerates it from the document it serves and type-checks this module with
 * `tsc --noEmit --strict`, so a contract change that breaks these calls fails the build.
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { components, operations, paths } from "./schema";

export type Schemas = components["schemas"];
export type Problem = Schemas["ErrorResponse"];
export type Token = Schemas["Token"];
export type Customer = Schemas["CustomerResponse"];
export type Policy = Schemas["PolicyResponse"];
export type Claim = Schemas["ClaimResponse"];
export type ClaimDocument = Schemas["DocumentResponse"];
export type AuditLogPage = Schemas["AuditLogPage"];
export type DocumentType = NonNullable<Schemas["DocumentUpload"]["document_type"]>;

// The documented response headers this client relies on must be typed strings: a document that stops
// declaring them (or types them otherwise) fails the type check here.
type DocumentedString<T extends string> = T;
export type ETag = DocumentedString<operations["getClaim"]["responses"][200]["headers"]["ETag"]>;
export type Replayed = DocumentedString<
  operations["createCustomer"]["responses"][201]["headers"]["Idempotent-Replayed"]
>;

/** Any answer of the API that is not a success: an RFC 7807 problem document (`application/problem+json`). */
export class ProblemError extends Error {
  readonly problem: Problem;
  readonly status: number;

  constructor(problem: Problem, status: number) {
    super(`${problem.code}: ${problem.detail}`);
    this.name = "ProblemError";
    this.problem = problem;
    this.status = status;
  }

  /** Field → messages of a 422 (empty for every other error). */
  get fieldErrors(): Record<string, string[]> {
    return this.problem.errors ?? {};
  }
}

function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && "code" in value && "status" in value;
}

/** The data of a success, or a ProblemError (a body that is not a problem document still becomes one). */
function ok<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) {
    const error = result.error;
    if (isProblem(error)) {
      throw new ProblemError(error, result.response.status);
    }
    throw new ProblemError(
      {
        type: "about:blank",
        title: result.response.statusText,
        status: result.response.status,
        detail: "The server answered without a problem document.",
        instance: null,
        code: "INTERNAL_ERROR",
        correlation_id: result.response.headers.get("X-Request-ID"),
      },
      result.response.status,
    );
  }
  return result.data as T;
}

export interface Session {
  access: string;
  refresh: string;
}

export class VanguardClient {
  readonly api: Client<paths>;
  private session: Session | null = null;

  constructor(baseUrl: string, fetchImpl?: typeof fetch) {
    this.api = createClient<paths>({ baseUrl, fetch: fetchImpl });
    const bearer: Middleware = {
      onRequest: ({ request }) => {
        if (this.session) {
          request.headers.set("Authorization", `Bearer ${this.session.access}`);
        }
        return request;
      },
    };
    this.api.use(bearer);
  }

  private keep(token: Token): Token {
    this.session = { access: token.access_token, refresh: token.refresh_token };
    return token;
  }

  async login(email: string, password: string): Promise<Token> {
    return this.keep(ok(await this.api.POST("/api/auth/login", { body: { email, password } })));
  }

  /** Rotate the refresh token: the old one is blacklisted, so keep the new pair. */
  async refresh(): Promise<Token> {
    if (!this.session) {
      throw new Error("log in first");
    }
    const token = ok(
      await this.api.POST("/api/auth/refresh", { body: { refresh_token: this.session.refresh } }),
    );
    return this.keep(token);
  }

  async createCustomer(
    customer: Schemas["CustomerCreate"],
    idempotencyKey: string = crypto.randomUUID(),
  ): Promise<{ customer: Customer; replayed: boolean }> {
    const result = await this.api.POST("/api/customers", {
      body: customer,
      params: { header: { "Idempotency-Key": idempotencyKey } },
    });
    const replayed: boolean = result.response.headers.get("Idempotent-Replayed") === ("true" satisfies Replayed);
    return { customer: ok(result), replayed };
  }

  async createPolicy(policy: Schemas["PolicyCreate"]): Promise<Policy> {
    return ok(
      await this.api.POST("/api/policies", {
        body: policy,
        params: { header: { "Idempotency-Key": crypto.randomUUID() } },
      }),
    );
  }

  async createClaim(claim: Schemas["ClaimCreate"]): Promise<Claim> {
    return ok(
      await this.api.POST("/api/claims", {
        body: claim,
        params: { header: { "Idempotency-Key": crypto.randomUUID() } },
      }),
    );
  }

  async uploadDocument(
    claimId: string,
    file: Blob,
    filename: string,
    documentType: DocumentType = "other",
  ): Promise<ClaimDocument> {
    const body: Schemas["DocumentUpload"] = { file: filename, document_type: documentType };
    return ok(
      await this.api.POST("/api/claims/{claim_id}/documents", {
        params: { path: { claim_id: claimId }, header: { "Idempotency-Key": crypto.randomUUID() } },
        body,
        // The generated type stands for the form's fields; the request carries the file itself.
        bodySerializer: (fields) => {
          const form = new FormData();
          form.append("file", file, filename);
          if (fields.document_type) {
            form.append("document_type", fields.document_type);
          }
          return form;
        },
      }),
    );
  }

  /** Read the claim, then change it under If-Match with the ETag read: a concurrent edit is a 412. */
  async changeClaim(claimId: string, change: Schemas["ClaimUpdate"]): Promise<Claim> {
    const path = { claim_id: claimId };
    const read = await this.api.GET("/api/claims/{claim_id}", { params: { path } });
    ok(read);
    const etag: ETag | null = read.response.headers.get("ETag");
    return ok(
      await this.api.PATCH("/api/claims/{claim_id}", {
        params: { path, header: etag ? { "If-Match": etag } : {} },
        body: change,
      }),
    );
  }

  /** Start processing the claim, then approve it (for `amount`, or in full when omitted). */
  async approveClaim(claimId: string, amount?: string, reason?: string): Promise<Claim> {
    const claim = await this.changeClaim(claimId, { status: "processing" });
    if (claim.status === "approved") {
      return claim;
    }
    return this.changeClaim(claimId, { status: "approved", approved_amount: amount, decision_reason: reason });
  }

  async auditLog(resourceType: Schemas["ResourceType"], resourceId: string): Promise<AuditLogPage> {
    return ok(
      await this.api.GET("/api/audit-logs", {
        params: { query: { resource_type: resourceType, resource_id: resourceId, page_size: 50 } },
      }),
    );
  }
}

/** The whole journey: log in, refresh, customer → policy → claim → document → approval → audit trail. */
export async function journey(baseUrl: string, email: string, password: string): Promise<AuditLogPage> {
  const vanguard = new VanguardClient(baseUrl);
  await vanguard.login(email, password);
  await vanguard.refresh();
  const today = new Date().toISOString().slice(0, 10);
  const suffix = crypto.randomUUID().slice(0, 8);
  const { customer } = await vanguard.createCustomer({
    email: `ada.${suffix}@example.com`,
    first_name: "Ada",
    last_name: "Lovelace",
    phone: "+44 20 7946 0000",
    address: "12 Example Street, London",
    ssn: "",
    date_of_birth: "1985-12-10",
    gdpr_consent: true,
  });
  const policy = await vanguard.createPolicy({
    customer_id: customer.id,
    policy_type: "auto",
    premium_amount: "1200.00",
    coverage_amount: "50000.00",
    start_date: today,
    end_date: `${Number(today.slice(0, 4)) + 1}${today.slice(4)}`,
  });
  const claim = await vanguard.createClaim({
    policy_id: policy.id,
    claim_type: "accident",
    claim_amount: "1500.00",
    description: "Rear-ended at a junction.",
    incident_date: today,
  });
  const pdf = new Blob(["%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"], { type: "application/pdf" });
  await vanguard.uploadDocument(claim.id, pdf, "estimate.pdf", "estimate");
  try {
    await vanguard.approveClaim(claim.id, "1500.00", "Covered in full.");
  } catch (error) {
    if (error instanceof ProblemError && error.status === 403) {
      // Over the caller's authority: the problem document names the limit.
      console.warn(error.problem.detail, error.problem.correlation_id);
    } else {
      throw error;
    }
  }
  return vanguard.auditLog("claim", claim.id);
}
