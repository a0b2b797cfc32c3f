/** Login (with the one-time code step when MFA is on) and the forced password change. */
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, messageOf, post } from "../api";
import { Field, Form, Notice } from "../ui";

export function LoginPage(props: { onLoggedIn: () => Promise<void>; notice?: string }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [totp, setTotp] = useState("");
  const [mfa, setMfa] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [setupNeeded, setSetupNeeded] = useState(false);

  useEffect(() => {
    get<{ needed: boolean }>("/api/identity/setup")
      .then((r) => setSetupNeeded(r.needed))
      .catch(() => undefined);
  }, []);

  const submit = async () => {
    setError(null);
    try {
      await post("/api/identity/login", { username, password, ...(mfa && totp ? { totp } : {}) });
      await props.onLoggedIn();
    } catch (err) {
      if (err instanceof ApiError && (err.data as { mfaRequired?: boolean } | null)?.mfaRequired) {
        setMfa(true);
        setError(totp ? err.message : "Enter the 6-digit code from your authenticator app.");
      } else setError(messageOf(err));
    }
  };

  return (
    <main class="narrow" id="main">
      <h1>Nexus Edge</h1>
      <p class="lead">Log in to the box's console.</p>
      {props.notice && <Notice tone="info">{props.notice}</Notice>}
      {setupNeeded && (
        <Notice tone="info">
          No administrator exists yet. Open the one-time setup link that <code>nexus up</code> printed on the
          box (or run <code>nexus admin create</code> there).
        </Notice>
      )}
      <Form onSubmit={submit} submit="Log in" label="Log in">
        <Field
          label="Username"
          value={username}
          onInput={setUsername}
          autocomplete="username"
          required
          name="username"
        />
        <Field
          label="Password"
          type="password"
          value={password}
          onInput={setPassword}
          autocomplete="current-password"
          required
          name="password"
        />
        {mfa && (
          <Field
            label="One-time code (or a recovery code)"
            value={totp}
            onInput={setTotp}
            autocomplete="one-time-code"
            inputMode="numeric"
            required
            name="totp"
          />
        )}
      </Form>
      {error && <Notice tone="error">{error}</Notice>}
    </main>
  );
}

export function ChangePassword(props: { forced?: boolean; onDone: () => Promise<void> }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [msg, setMsg] = useState<{ tone: "ok" | "error"; text: string } | null>(null);
  const submit = async () => {
    if (next !== again) return setMsg({ tone: "error", text: "The new passwords differ." });
    try {
      await post("/api/identity/me/password", { currentPassword: current, newPassword: next });
      setMsg({ tone: "ok", text: "Password changed." });
      setCurrent("");
      setNext("");
      setAgain("");
      if (props.forced) {
        await post("/api/identity/token");
        await props.onDone();
      }
    } catch (err) {
      setMsg({ tone: "error", text: messageOf(err) });
    }
  };
  const body = (
    <>
      {props.forced && <h1>Choose a new password</h1>}
      {props.forced && (
        <p class="lead">Your password was reset by an administrator: choose your own to go on.</p>
      )}
      <Form onSubmit={submit} submit="Change password" label="Change password">
        <Field
          label="Current password"
          type="password"
          value={current}
          onInput={setCurrent}
          autocomplete="current-password"
          required
        />
        <Field
          label="New password"
          type="password"
          value={next}
          onInput={setNext}
          autocomplete="new-password"
          minLength={10}
          hint="At least 10 characters, not containing your username."
          required
        />
        <Field
          label="New password again"
          type="password"
          value={again}
          onInput={setAgain}
          autocomplete="new-password"
          required
        />
      </Form>
      {msg && <Notice tone={msg.tone}>{msg.text}</Notice>}
    </>
  );
  return props.forced ? (
    <main class="narrow" id="main">
      {body}
    </main>
  ) : (
    body
  );
}
