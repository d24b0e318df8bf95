/**
 * The queries of each Trainlytics screen, typed with the generated `Database`
 * (supabase/types/database.types.ts, `make types`).
 *
 * One function per screen. Each makes exactly the requests listed for it in
 * ../screens.json: src/contract.test.ts holds the functions to that file, and
 * tests/frontend runs the same requests against the database under row-level
 * security as the athlete and as a coach.
 *
 * Rules every screen follows (README, "For frontend developers"):
 * - always filter by the user whose data is shown (`.eq('user_id', id)`): RLS
 *   returns the right rows without it, but only the filter lets Postgres walk
 *   the `(user_id, ...)` indexes;
 * - units are SI: metres, seconds, m/s, pace in s/km, bpm, W, kcal; dates of
 *   calendar statistics are the athlete's local days (`YYYY-MM-DD`);
 * - a failed request throws a `TrainlyticsError` whose `code` says what to show.
 */
import type { PostgrestError, SupabaseClient } from "@supabase/supabase-js";
import type { Database } from "../../types/database.types.js";

export type Client = SupabaseClient<Database>;
type Public = Database["public"];
export type Provider = Public["Enums"]["provider_type"];
/** A local calendar day, `YYYY-MM-DD`. */
export type LocalDate = string;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** What the screen should do about a failure. */
export type ErrorAction =
  | "sign_in_again"
  | "not_allowed"
  | "not_found"
  | "fix_the_request"
  | "retry_later"
  | "report_bug";

/** A failed request: `code` is PostgREST's or Postgres's (`PGRST301`, `42501`, ...) or,
 * for the HTTP functions, their `error` field (`unauthenticated`, ...). */
export class TrainlyticsError extends Error {
  readonly code: string;
  readonly action: ErrorAction;
  readonly hint: string | null;
  readonly status: number | null;

  constructor(code: string, message: string, hint: string | null, status: number | null) {
    super(message);
    this.name = "TrainlyticsError";
    this.code = code;
    this.hint = hint;
    this.status = status;
    this.action = actionFor(code, status);
  }
}

/** The action for an error code (README: "Errors and what to show"). */
export function actionFor(code: string, status: number | null): ErrorAction {
  switch (code) {
    // PostgREST: JWT expired, invalid, or missing where a role is required.
    case "PGRST301":
    case "PGRST302":
    case "PGRST303":
    case "unauthenticated":
      return "sign_in_again";
    // Postgres: insufficient privilege, or a guard trigger refusing a change.
    case "42501":
      return "not_allowed";
    // PostgREST: .single() found no row (RLS hides what the caller may not read).
    case "PGRST116":
    case "unknown_provider":
      return "not_found";
    // Postgres: invalid parameter (e.g. training_load_series with p_to < p_from), bad input.
    case "22023":
    case "22P02":
    case "22007":
    case "22008":
    case "23503":
    case "23505":
    case "23514":
    case "bad_request":
      return "fix_the_request";
    case "provider_not_configured":
    case "provider_capacity": // the provider application is full (Strava: 10 athletes)
    case "database_unavailable":
    case "provider_error":
    case "network":
      return "retry_later";
    default:
      return status !== null && status >= 500 ? "retry_later" : "report_bug";
  }
}

function fail(error: PostgrestError, status: number): never {
  throw new TrainlyticsError(error.code || "unknown", error.message, error.hint || null, status);
}

/** A select string is parsed against the generated types: a column, view or relationship
 * that does not exist gives a `SelectQueryError` (`{ error: true }`) in its place, and a
 * select that is not a string literal gives one for the whole row. */
type IsSelectError<V> = V extends { error: true } ? true : false;
type ColumnHasError<V> =
  IsSelectError<V> extends true
    ? true
    : V extends readonly unknown[]
      ? false
      : V extends object
        ? true extends { [K in keyof V]-?: IsSelectError<V[K]> }[keyof V]
          ? true
          : false
        : false;
type RowHasError<T> =
  IsSelectError<T> extends true
    ? true
    : true extends { [K in keyof T]-?: ColumnHasError<T[K]> }[keyof T]
      ? true
      : false;
/** Required only when the rows carry a select error: then the call does not compile. */
type FailOnSelectError<T> =
  RowHasError<T> extends true ? [error: "a select names what the generated types do not have"] : [];

function rows<T>(
  response: { data: T[] | null; error: PostgrestError | null; status: number },
  ..._check: FailOnSelectError<T>
): T[] {
  if (response.error) fail(response.error, response.status);
  return response.data ?? [];
}

// ---------------------------------------------------------------------------
// Screens
// ---------------------------------------------------------------------------

/** Activities feed: the latest primary activities of one athlete (a coach sees no private
 * and no Strava-sourced activity). Distances m, times s, speed m/s, pace s/km. */
export async function recentActivities(client: Client, args: { userId: string; limit: number }) {
  return rows(
    await client
      .from("activities")
      .select(
        "id,name,activity_type,start_date,start_date_local,timezone,utc_offset,distance,moving_time,elapsed_time,elevation_gain,average_speed,pace,average_heartrate,average_watts,calories,provider,source,is_manual,is_private",
      )
      .eq("user_id", args.userId)
      .is("primary_activity_id", null)
      .order("start_date", { ascending: false })
      .limit(args.limit),
  );
}

/** Weekly volume per sport, weeks (Mondays) from `fromWeek` to `toWeek` inclusive. */
export async function weeklyVolume(
  client: Client,
  args: { userId: string; fromWeek: LocalDate; toWeek: LocalDate },
) {
  return rows(
    await client
      .from("weekly_volume")
      .select(
        "week_start,activity_type,activity_count,total_distance,total_moving_time,total_elapsed_time,total_elevation_gain,total_calories,total_load",
      )
      .eq("user_id", args.userId)
      .gte("week_start", args.fromWeek)
      .lte("week_start", args.toWeek)
      .order("week_start", { ascending: true })
      .order("activity_type", { ascending: true }),
  );
}

/** Monthly volume per sport, months (first days) from `fromMonth` to `toMonth` inclusive. */
export async function monthlyVolume(
  client: Client,
  args: { userId: string; fromMonth: LocalDate; toMonth: LocalDate },
) {
  return rows(
    await client
      .from("monthly_volume")
      .select(
        "month_start,activity_type,activity_count,total_distance,total_moving_time,total_elapsed_time,total_elevation_gain,total_calories,total_load",
      )
      .eq("user_id", args.userId)
      .gte("month_start", args.fromMonth)
      .lte("month_start", args.toMonth)
      .order("month_start", { ascending: true })
      .order("activity_type", { ascending: true }),
  );
}

/** Daily load, fitness (ctl), fatigue (atl) and form (tsb) from `from` to `to` (at most 20
 * years; p_to < p_from raises 22023). One row per day, rest days included. */
export async function trainingLoad(
  client: Client,
  args: { userId: string; from: LocalDate; to: LocalDate },
) {
  return rows(
    await client.rpc("training_load_series", {
      p_user_id: args.userId,
      p_from: args.from,
      p_to: args.to,
    }),
  );
}

/** Personal records per sport: longest_distance (m), longest_duration (s), biggest_climb (m),
 * fastest (s over standard_distance m). */
export async function personalRecords(client: Client, args: { userId: string }) {
  return rows(
    await client
      .from("personal_records")
      .select("activity_type,record,standard_distance,value,activity_id,achieved_on")
      .eq("user_id", args.userId)
      .order("activity_type", { ascending: true })
      .order("record", { ascending: true })
      .order("standard_distance", { ascending: true }),
  );
}

/** Connections, the latest sync runs and recurring failures of the signed-in athlete. */
export async function connections(client: Client, args: { userId: string; historyLimit: number }) {
  const [connected, history, recurring] = await Promise.all([
    client
      .from("provider_connections")
      .select(
        "id,provider,provider_username,status,is_active,scopes,connected_at,disconnected_at,last_sync_at,last_error,last_error_at,consecutive_failures",
      )
      .eq("user_id", args.userId)
      .order("provider", { ascending: true }),
    client
      .from("sync_history")
      .select(
        "id,connection_id,sync_trigger,sync_status,sync_started_at,sync_completed_at,activities_fetched,activities_created,activities_updated,activities_deleted,activities_skipped,api_calls,error_message",
      )
      .eq("user_id", args.userId)
      .order("sync_started_at", { ascending: false })
      .limit(args.historyLimit),
    client
      .from("recurring_sync_errors")
      .select("kind,provider,connection_id,error_message,failures,first_failure_at,last_failure_at")
      .eq("user_id", args.userId)
      .order("last_failure_at", { ascending: false }),
  ]);
  return {
    connections: rows(connected),
    history: rows(history),
    recurringErrors: rows(recurring),
  };
}

/** An offer waiting for the coach (`pending_coach_offers`): who offers and since when, never
 * their preferences. The generated type says `string` for every column of a function's table
 * (Supabase's generator cannot see nullability there); email, names and avatar are nullable
 * `users` columns, so they are widened here. */
export type PendingCoachOffer = Omit<
  Public["Functions"]["pending_coach_offers"]["Returns"][number],
  "email" | "first_name" | "last_name" | "avatar_url"
> & {
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  avatar_url: string | null;
};

/** A coach's athletes: the active grants, each with the athlete's name and avatar, and the
 * offers waiting for the coach to accept (`pending_coach_offers()`: a pending coach reads no
 * profile row, so an offer's names come from that function; accept with
 * `update coach_athletes set status = 'active' where id = grant_id`). */
export async function coachAthletes(client: Client, args: { coachId: string }) {
  const [active, pending] = await Promise.all([
    client
      .from("coach_athletes")
      .select(
        "id,activated_at,athlete_id,athlete:users!coach_athletes_athlete_id_fkey(id,first_name,last_name,avatar_url)",
      )
      .eq("coach_id", args.coachId)
      .eq("status", "active")
      .order("activated_at", { ascending: true })
      .order("id", { ascending: true }),
    client.rpc("pending_coach_offers"),
  ]);
  const offers: PendingCoachOffer[] = rows(pending);
  return { athletes: rows(active), offers };
}

/** One athlete's page: profile, latest activities, weekly volume, load and plan. The profile
 * is null when the caller may not read it (no active grant, or an offer not accepted). A
 * coach's plan leaves out the workouts fulfilled by an activity hidden from coaches (private or
 * Strava-sourced), and the compliance counts only what the coach may read. */
export async function athletePage(
  client: Client,
  args: {
    athleteId: string;
    fromWeek: LocalDate;
    toWeek: LocalDate;
    from: LocalDate;
    to: LocalDate;
    limit: number;
  },
) {
  const [profile, activities, volume, load, plan] = await Promise.all([
    client
      .from("users")
      .select("id,first_name,last_name,avatar_url,role")
      .eq("id", args.athleteId)
      .maybeSingle(),
    recentActivities(client, { userId: args.athleteId, limit: args.limit }),
    weeklyVolume(client, { userId: args.athleteId, fromWeek: args.fromWeek, toWeek: args.toWeek }),
    trainingLoad(client, { userId: args.athleteId, from: args.from, to: args.to }),
    plannedWorkouts(client, { userId: args.athleteId, from: args.fromWeek, to: args.to }),
  ]);
  if (profile.error) fail(profile.error, profile.status);
  return { profile: profile.data, activities, volume, load, plan };
}

/** Planned workouts between two local days, and compliance for the weeks (Mondays) between
 * them: planned vs completed counts, durations (s), distances (m), loads. A coach does not see
 * a workout fulfilled by an activity hidden from coaches (private or Strava-sourced): its
 * `completed_activity_id` would name that activity; the coach's compliance counts neither. */
export async function plannedWorkouts(
  client: Client,
  args: { userId: string; from: LocalDate; to: LocalDate },
) {
  const [workouts, compliance] = await Promise.all([
    client
      .from("workouts")
      .select(
        "id,name,description,activity_type,planned_date,planned_duration,planned_distance,planned_load,structure,coach_id,completed_activity_id",
      )
      .eq("user_id", args.userId)
      .gte("planned_date", args.from)
      .lte("planned_date", args.to)
      .order("planned_date", { ascending: true })
      .order("id", { ascending: true }),
    client
      .from("weekly_compliance")
      .select(
        "week_start,planned_count,completed_count,planned_duration,completed_duration,planned_distance,completed_distance,planned_load,completed_load,completion_rate",
      )
      .eq("user_id", args.userId)
      .gte("week_start", args.from)
      .lte("week_start", args.to)
      .order("week_start", { ascending: true }),
  ]);
  return { workouts: rows(workouts), compliance: rows(compliance) };
}

// ---------------------------------------------------------------------------
// HTTP functions (trainlytics serve): connect and disconnect
// ---------------------------------------------------------------------------
//
// Connecting a provider, end to end:
// 1. `startConnection(api, {provider})`, then `window.location.assign(authorize_url)`;
// 2. the athlete approves (or declines) at the provider, which redirects the browser to
//    `GET {functions}/oauth/{provider}/callback?code=…&state=…`; that route completes nothing and
//    redirects to `${frontend}/connections/complete?provider=…&<the provider's query>`;
// 3. the `/connections/complete` page, once the athlete's session is loaded, reads its address
//    with `completionRequest(location.search)`, drops the query from the address
//    (`history.replaceState(null, "", location.pathname)`), then calls
//    `completeConnection(api, request)` with the signed-in athlete's own token. The state must
//    have been issued to that same user, so a link started by someone else ends in
//    `state_user_mismatch` and links nothing.

/** Where the HTTP functions are, and the signed-in athlete's Supabase access token
 * (`(await supabase.auth.getSession()).data.session?.access_token`). */
export interface FunctionsApi {
  url: string;
  accessToken: string;
  fetch?: typeof fetch;
}

/** POST /connections/{provider}/start. */
export interface StartConnectionResponse {
  provider: Provider;
  /** Send the athlete's browser here (`window.location.assign`). */
  authorize_url: string;
  /** The link is valid until then (ISO 8601; 10 minutes). */
  expires_at: string;
}

/** POST /connections/{provider}/complete. */
export interface CompleteConnectionResponse {
  provider: Provider;
  status: "connected" | "error";
  /** With `status: "error"`: what to tell the athlete (`CALLBACK_REASONS`); `"unknown"` for a
   * reason this module does not know (a newer server); null when connected. */
  reason: CallbackReason | "unknown" | null;
}

/** POST /connections/{provider}/disconnect. */
export interface DisconnectResponse {
  provider: Provider;
  /** False when there was nothing to disconnect. */
  disconnected: boolean;
  revoked_at_provider: boolean;
  /** Activities deleted because the provider's terms require it (Strava). */
  activities_deleted: number;
}

/** The fields of each answer, checked at compile time against the interfaces above (and by
 * the contract test against screens.json, whose list tests/frontend checks against the app). */
export const RESPONSE_FIELDS = {
  startConnection: ["provider", "authorize_url", "expires_at"],
  completeConnection: ["provider", "status", "reason"],
  disconnectProvider: ["provider", "disconnected", "revoked_at_provider", "activities_deleted"],
} as const satisfies {
  startConnection: readonly (keyof StartConnectionResponse)[];
  completeConnection: readonly (keyof CompleteConnectionResponse)[];
  disconnectProvider: readonly (keyof DisconnectResponse)[];
};
type Missing<T, Listed extends readonly unknown[]> = Exclude<keyof T, Listed[number]>;
type MustBeEmpty<T extends never> = T;
export type ResponseFieldsAreComplete = [
  MustBeEmpty<Missing<StartConnectionResponse, typeof RESPONSE_FIELDS.startConnection>>,
  MustBeEmpty<Missing<CompleteConnectionResponse, typeof RESPONSE_FIELDS.completeConnection>>,
  MustBeEmpty<Missing<DisconnectResponse, typeof RESPONSE_FIELDS.disconnectProvider>>,
];

/** The HTTP functions' error body. */
export interface FunctionsErrorBody {
  error: string;
  detail: string;
  hint: string | null;
}

/** What to tell the athlete for each `reason` of a connection that failed: the `reason` of
 * `completeConnection`'s answer, or of the address `${frontend}/connections?provider=…&
 * status=error&reason=invalid_callback` the callback sends the browser to when it cannot
 * forward the provider's redirect (`connectionOutcome`). */
export const CALLBACK_REASONS = {
  access_denied: "You declined the connection at the provider.",
  invalid_state: "This link is not valid. Start the connection again.",
  expired_state: "The link expired. Start the connection again.",
  reused_state: "This link was already used. Start the connection again.",
  wrong_provider: "The link was issued for another provider. Start again.",
  insufficient_scope: "A permission Trainlytics needs was not granted. Connect again and allow it.",
  exchange_failed: "The provider refused the connection. Start again.",
  provider_unavailable: "The provider did not answer. Try again later.",
  provider_error: "The provider answered something unexpected. Try again later.",
  account_linked_elsewhere: "This provider account is linked to another Trainlytics user.",
  state_user_mismatch:
    "This link was started from another Trainlytics account. Sign in as yourself and start again.",
  invalid_callback: "The provider's answer could not be read. Start the connection again.",
} as const satisfies Record<string, string>;
export type CallbackReason = keyof typeof CALLBACK_REASONS;

function knownReason(reason: string | null | undefined): CallbackReason | "unknown" | null {
  if (reason === null || reason === undefined) return null;
  return Object.prototype.hasOwnProperty.call(CALLBACK_REASONS, reason)
    ? (reason as CallbackReason)
    : "unknown";
}

/** Every provider, held to the generated enum at compile time (an import of the generated
 * file's `Constants` would make it a runtime dependency: this module imports types only). */
export const PROVIDERS = [
  "strava",
  "garmin",
  "polar",
  "coros",
  "wahoo",
  "fitbit",
] as const satisfies readonly Provider[];
export type ProvidersAreComplete = MustBeEmpty<Exclude<Provider, (typeof PROVIDERS)[number]>>;

function isProvider(name: string | null | undefined): name is Provider {
  return typeof name === "string" && (PROVIDERS as readonly string[]).includes(name);
}

/** What the `/connections/complete` page POSTs: its address's `provider`, and every other
 * parameter of its query (the provider's redirect: `code`, `state`, `scope`, `error`, …; for a
 * repeated name the last value, as the server reads it). Null when the address names no
 * provider Trainlytics knows: show `CALLBACK_REASONS.invalid_callback`.
 *
 * Read it once, then drop the query from the address before anything else happens
 * (`history.replaceState(null, "", location.pathname)`): the code and state must not stay in
 * the address bar, the history or a `Referer`, and a reload must not post them again. */
export function completionRequest(
  search: string,
): { provider: Provider; query: Record<string, string> } | null {
  const params = new URLSearchParams(search);
  const provider = params.get("provider");
  if (!isProvider(provider)) return null;
  params.delete("provider");
  return { provider, query: Object.fromEntries(params) };
}

/** Reads the outcome the callback put in the frontend URL's query string: only
 * `${frontend}/connections?provider=…&status=error&reason=invalid_callback` since the flow
 * completes on `/connections/complete` (`completeConnection`). */
export function connectionOutcome(search: string): {
  provider: string | null;
  status: "connected" | "error" | null;
  reason: CallbackReason | "unknown" | null;
} {
  const params = new URLSearchParams(search);
  const status = params.get("status");
  const reason = params.get("reason");
  return {
    provider: params.get("provider"),
    status: status === "connected" || status === "error" ? status : null,
    reason: knownReason(reason),
  };
}

async function callFunction<T>(
  api: FunctionsApi,
  path: string,
  json?: Record<string, string>,
): Promise<T> {
  const doFetch = api.fetch ?? fetch;
  const headers: Record<string, string> = {
    Authorization: `Bearer ${api.accessToken}`,
    Accept: "application/json",
  };
  const init: RequestInit = { method: "POST", headers };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response: Response;
  try {
    response = await doFetch(`${api.url.replace(/\/+$/, "")}/${path}`, init);
  } catch (cause) {
    throw new TrainlyticsError("network", String(cause), null, null);
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    // Our error body, or another (e.g. FastAPI's 422 `{"detail": [...]}` for a completion
    // body that is not an object of at most 32 strings): then the code is `http_<status>`.
    const error = (body ?? {}) as Partial<Record<keyof FunctionsErrorBody, unknown>>;
    throw new TrainlyticsError(
      typeof error.error === "string" ? error.error : `http_${response.status}`,
      typeof error.detail === "string" ? error.detail : response.statusText,
      typeof error.hint === "string" ? error.hint : null,
      response.status,
    );
  }
  return body as T;
}

/** Begin connecting `provider`; send the browser to the returned `authorize_url`. */
export async function startConnection(api: FunctionsApi, args: { provider: Provider }) {
  return callFunction<StartConnectionResponse>(
    api,
    `connections/${encodeURIComponent(args.provider)}/start`,
  );
}

/** The `/connections/complete` page: completes the connection with the provider's redirect
 * query (from `completionRequest`; a stray `provider` key is not sent) and the signed-in
 * athlete's token. Every refusal of the flow itself is an answer, not a throw:
 * `{status: "error", reason}` (`state_user_mismatch` when the link was started by another
 * account, `reused_state` when the same query is posted twice, …); it throws only for a
 * missing or expired token (`unauthenticated`: the state is not spent, but the page has dropped
 * the query, so sign in and start again), an unknown or unconfigured provider, or the
 * deployment being unavailable. */
export async function completeConnection(
  api: FunctionsApi,
  args: { provider: Provider; query: Readonly<Record<string, string>> },
): Promise<CompleteConnectionResponse> {
  const { provider: _ignored, ...query } = args.query;
  const body = await callFunction<Partial<Record<keyof CompleteConnectionResponse, string>>>(
    api,
    `connections/${encodeURIComponent(args.provider)}/complete`,
    query,
  );
  const connected = body.status === "connected";
  return {
    provider: isProvider(body.provider) ? body.provider : args.provider,
    status: connected ? "connected" : "error",
    reason: connected ? null : (knownReason(body.reason) ?? "unknown"),
  };
}

/** Disconnect `provider`: revoked at the provider, tokens deleted, the connection kept as
 * disconnected; activities are kept except Strava's (its API agreement). */
export async function disconnectProvider(api: FunctionsApi, args: { provider: Provider }) {
  return callFunction<DisconnectResponse>(
    api,
    `connections/${encodeURIComponent(args.provider)}/disconnect`,
  );
}
