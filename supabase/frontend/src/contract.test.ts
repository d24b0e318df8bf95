/**
 * The screens' functions make exactly the requests ../screens.json lists (npm test).
 *
 * Each function runs with its `example` arguments on a real supabase-js client whose fetch
 * records the request instead of sending it; the recorded method, path, query parameters (in
 * order) and body must equal the manifest's. tests/frontend runs the manifest's requests
 * against the database, so together the two tests hold the TypeScript to the database.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { createClient } from "@supabase/supabase-js";

import type { Database } from "../../types/database.types.js";
import * as queries from "./queries.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Values = Record<string, Json>;

interface PlainRequest {
  http?: boolean;
  method: string;
  path: string;
  query?: [string, string][];
  body?: Json;
  single?: boolean;
}
interface UseRequest {
  use: string;
  args: Values;
}
interface Screen {
  title: string;
  example: Values;
  requests: (PlainRequest | UseRequest)[];
}
interface Manifest {
  screens: Record<string, Screen>;
  http: Record<string, string[]>;
  callbackReasons: string[];
  httpErrors: string[];
  userRpcs: string[];
}

interface Recorded {
  http: boolean;
  method: string;
  path: string;
  query: [string, string][];
  body: Json;
}

const manifest = JSON.parse(
  readFileSync(new URL("../../../screens.json", import.meta.url), "utf-8"),
) as Manifest;

const SUPABASE_URL = "http://supabase.test";
/** No screen uses realtime; node 20 has no WebSocket, which supabase-js checks at creation. */
class NoWebSocket {
  constructor() {
    throw new Error("the screens do not use realtime");
  }
}
const CLIENT_OPTIONS = {
  auth: { persistSession: false, autoRefreshToken: false },
  realtime: { transport: NoWebSocket as never },
};
const FUNCTIONS_URL = "http://functions.test/api";

/** `{name}` placeholders: a whole-string placeholder keeps the value's JSON type. */
function substitute(value: Json, values: Values): Json {
  if (typeof value === "string") {
    const whole = /^\{(\w+)\}$/.exec(value);
    if (whole) {
      const key = whole[1] as string;
      assert.ok(key in values, `no value for {${key}}`);
      return values[key] as Json;
    }
    return value.replace(/\{(\w+)\}/g, (_, key: string) => {
      assert.ok(key in values, `no value for {${key}}`);
      return String(values[key]);
    });
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, values));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, substitute(item, values)]),
    );
  }
  return value;
}

/** The concrete requests of a screen for these argument values. */
function expand(name: string, values: Values): Recorded[] {
  const screen = manifest.screens[name];
  assert.ok(screen, `screens.json has no screen ${name}`);
  return screen.requests.flatMap((request): Recorded[] => {
    if ("use" in request) {
      return expand(request.use, substitute(request.args, values) as Values);
    }
    return [
      {
        http: request.http === true,
        method: request.method,
        path: substitute(request.path, values) as string,
        query: (request.query ?? []).map(([key, value]): [string, string] => [
          key,
          String(substitute(value, values)),
        ]),
        body: substitute(request.body ?? null, values),
      },
    ];
  });
}

function recorder(log: Recorded[]): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const text = typeof init?.body === "string" ? init.body : null;
    const http = url.href.startsWith(FUNCTIONS_URL);
    const path = http
      ? url.pathname.slice(new URL(FUNCTIONS_URL).pathname.length + 1)
      : url.pathname.replace(/^\/rest\/v1\//, "");
    log.push({
      http,
      method,
      path,
      query: [...url.searchParams.entries()],
      body: text === null ? null : (JSON.parse(text) as Json),
    });
    return new Response(http ? "{}" : "[]", {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });
  };
}

const NOT_SCREENS = new Set([
  "TrainlyticsError",
  "actionFor",
  "connectionOutcome",
  "completionRequest",
]);

test("every exported function is a screen of screens.json, and every screen a function", () => {
  const exported = Object.entries(queries)
    .filter(([name, value]) => typeof value === "function" && !NOT_SCREENS.has(name))
    .map(([name]) => name)
    .sort();
  assert.deepEqual(exported, Object.keys(manifest.screens).sort());
});

for (const [name, screen] of Object.entries(manifest.screens)) {
  test(`${name} makes the requests screens.json lists`, async () => {
    const log: Recorded[] = [];
    const fetch = recorder(log);
    const client = createClient<Database>(SUPABASE_URL, "anon-key", {
      ...CLIENT_OPTIONS,
      global: { fetch },
    });
    const api: queries.FunctionsApi = { url: FUNCTIONS_URL, accessToken: "token", fetch };
    const screenFunction = (queries as unknown as Record<string, Function>)[name];
    assert.equal(typeof screenFunction, "function", `queries.ts exports no ${name}`);
    const usesHttp = screen.requests.some((request) => "http" in request && request.http);
    await (screenFunction as (target: unknown, args: Values) => Promise<unknown>)(
      usesHttp ? api : client,
      screen.example,
    );
    // Requests made concurrently (Promise.all) reach fetch in no contractual order.
    const sorted = (requests: Recorded[]) =>
      requests.map((request) => JSON.stringify(request)).sort();
    assert.deepEqual(sorted(log), sorted(expand(name, screen.example)));
  });
}

test("every RPC a screen calls is one of the userRpcs (the functions `authenticated` may execute)", () => {
  const called = new Set<string>();
  for (const [name, screen] of Object.entries(manifest.screens)) {
    for (const request of expand(name, screen.example)) {
      if (!request.http && request.path.startsWith("rpc/")) called.add(request.path.slice(4));
    }
  }
  assert.ok(called.has("pending_coach_offers"));
  for (const rpc of called) assert.ok(manifest.userRpcs.includes(rpc), rpc);
});

test("coachAthletes: active athletes from the grants, offers from pending_coach_offers", async () => {
  const alice = { id: "a1", first_name: "Alice", last_name: "Martin", avatar_url: null };
  const active = [
    { id: 1, activated_at: "2025-06-01T10:00:00+00:00", athlete_id: "a1", athlete: alice },
  ];
  // An offer from an athlete who never set a name: the function answers null for it.
  const offer = {
    grant_id: 2,
    athlete_id: "g1",
    email: "gina@example.com",
    first_name: null,
    last_name: null,
    avatar_url: null,
    offered_at: "2025-06-03T09:00:00+00:00",
  };
  const client = createClient<Database>(SUPABASE_URL, "anon-key", {
    ...CLIENT_OPTIONS,
    global: {
      fetch: async (input) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        const body = url.pathname.endsWith("/rpc/pending_coach_offers") ? [offer] : active;
        return new Response(JSON.stringify(body), {
          status: 200,
          headers: { "Content-Type": "application/json" },
        });
      },
    },
  });
  const result = await queries.coachAthletes(client, { coachId: "b0" });
  assert.deepEqual(result, { athletes: active, offers: [offer] });
  const names: (string | null)[] = result.offers.map((o) => o.first_name);
  assert.deepEqual(names, [null]);
});

test("the callback reasons the frontend explains are the ones screens.json lists", () => {
  assert.deepEqual(Object.keys(queries.CALLBACK_REASONS), manifest.callbackReasons);
  assert.deepEqual(queries.connectionOutcome("?provider=garmin&status=error&reason=expired_state"), {
    provider: "garmin",
    status: "error",
    reason: "expired_state",
  });
  assert.equal(queries.connectionOutcome("?status=error&reason=surprise").reason, "unknown");
});

test("the completion page posts the provider's query, without `provider`, as JSON", async () => {
  // The address the callback redirects to (trainlytics.connections.connect.callback_bounce): `provider`
  // first, then the provider's query as the provider sent it.
  const request = queries.completionRequest(
    "?provider=strava&state=Wq3Hn0u6fJ9Yc2pL&code=4f1c9a&scope=read,activity:read_all",
  );
  assert.deepEqual(request, {
    provider: "strava",
    query: { state: "Wq3Hn0u6fJ9Yc2pL", code: "4f1c9a", scope: "read,activity:read_all" },
  });
  // Exactly the example of screens.json, so the recorded request is the manifest's.
  assert.deepEqual(request, manifest.screens.completeConnection?.example);
  // A repeated name: the last value, as the server reads a query.
  assert.deepEqual(queries.completionRequest("?provider=garmin&state=a&state=b")?.query, {
    state: "b",
  });
  assert.equal(queries.completionRequest("?code=x&state=y"), null);
  assert.equal(queries.completionRequest("?provider=myspace&code=x&state=y"), null);

  const log: Recorded[] = [];
  const record = recorder(log);
  const seen: Headers[] = [];
  const api: queries.FunctionsApi = {
    url: FUNCTIONS_URL,
    accessToken: "alice-token",
    fetch: async (input, init) => {
      seen.push(new Headers(init?.headers));
      await record(input, init);
      return new Response(
        JSON.stringify({ provider: "garmin", status: "error", reason: "state_user_mismatch" }),
        { status: 200, headers: { "Content-Type": "application/json" } },
      );
    },
  };
  const outcome = await queries.completeConnection(api, {
    provider: "garmin",
    query: { provider: "strava", state: "s", code: "c" },
  });
  assert.deepEqual(outcome, { provider: "garmin", status: "error", reason: "state_user_mismatch" });
  assert.deepEqual(log, [
    {
      http: true,
      method: "POST",
      path: "connections/garmin/complete",
      query: [],
      body: { state: "s", code: "c" },
    },
  ]);
  assert.equal(seen[0]?.get("Authorization"), "Bearer alice-token");
  assert.equal(seen[0]?.get("Content-Type"), "application/json");
});

test("the completion's answer is typed: connected has no reason, an unknown reason is 'unknown'", async () => {
  const answering =
    (body: unknown): typeof fetch =>
    async () =>
      new Response(JSON.stringify(body), {
        status: 200,
        headers: { "Content-Type": "application/json" },
      });
  const args = { provider: "wahoo", query: { state: "s", code: "c" } } as const;
  const connected = await queries.completeConnection(
    {
      url: FUNCTIONS_URL,
      accessToken: "t",
      fetch: answering({ provider: "wahoo", status: "connected", reason: null }),
    },
    args,
  );
  assert.deepEqual(connected, { provider: "wahoo", status: "connected", reason: null });
  const surprise = await queries.completeConnection(
    {
      url: FUNCTIONS_URL,
      accessToken: "t",
      fetch: answering({ provider: "wahoo", status: "error", reason: "from_the_future" }),
    },
    args,
  );
  assert.deepEqual(surprise, { provider: "wahoo", status: "error", reason: "unknown" });
});

test("an answer without our error body is http_<status>, with a string message", async () => {
  // FastAPI's validation answer, e.g. a completion body that is not an object of strings.
  const api: queries.FunctionsApi = {
    url: FUNCTIONS_URL,
    accessToken: "t",
    fetch: async () =>
      new Response(JSON.stringify({ detail: [{ type: "too_long", loc: ["body"] }] }), {
        status: 422,
        statusText: "Unprocessable Entity",
        headers: { "Content-Type": "application/json" },
      }),
  };
  await assert.rejects(
    queries.completeConnection(api, { provider: "garmin", query: { state: "s" } }),
    (error: unknown) =>
      error instanceof queries.TrainlyticsError &&
      error.code === "http_422" &&
      error.message === "Unprocessable Entity" &&
      error.action === "report_bug",
  );
});

test("the HTTP functions' answers have the fields screens.json lists", () => {
  assert.deepEqual(
    Object.fromEntries(Object.entries(queries.RESPONSE_FIELDS).map(([k, v]) => [k, [...v]])),
    manifest.http,
  );
});

test("every HTTP error code has an action other than reporting a bug, except internal_error", () => {
  for (const code of manifest.httpErrors) {
    const action = queries.actionFor(code, code === "internal_error" ? 500 : 400);
    if (code === "internal_error") assert.equal(action, "retry_later");
    else assert.notEqual(action, "report_bug", code);
  }
});

test("a failed request throws a TrainlyticsError carrying the code and its action", async () => {
  const client = createClient<Database>(SUPABASE_URL, "anon-key", {
    global: {
      fetch: async () =>
        new Response(
          JSON.stringify({ code: "22023", message: "training_load_series needs p_from <= p_to" }),
          { status: 400, headers: { "Content-Type": "application/json" } },
        ),
    },
    ...CLIENT_OPTIONS,
  });
  await assert.rejects(
    queries.trainingLoad(client, { userId: "u", from: "2025-02-01", to: "2025-01-01" }),
    (error: unknown) =>
      error instanceof queries.TrainlyticsError &&
      error.code === "22023" &&
      error.action === "fix_the_request" &&
      error.status === 400,
  );
  const api: queries.FunctionsApi = {
    url: FUNCTIONS_URL,
    accessToken: "expired",
    fetch: async () =>
      new Response(
        JSON.stringify({ error: "unauthenticated", detail: "token expired", hint: null }),
        { status: 401, headers: { "Content-Type": "application/json" } },
      ),
  };
  await assert.rejects(
    queries.startConnection(api, { provider: "garmin" }),
    (error: unknown) =>
      error instanceof queries.TrainlyticsError &&
      error.code === "unauthenticated" &&
      error.action === "sign_in_again",
  );
});
