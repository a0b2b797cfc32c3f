/** First boot: the one-time link `nexus up` prints (`/setup?token=…`) creates the first administrator. */
import { useEffect, useState } from "preact/hooks";
import { get, messageOf, post } from "../api";
import { Field, Form, Notice } from "../ui";

export function SetupPage(props: { onDone: () => Promise<void> }) {
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const [needed, setNeeded] = useState<boolean | null>(null);
  const [username, setUsername] = useState("admin");
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    get<{ needed: boolean }>("/api/identity/setup")
      .then((r) => setNeeded(r.needed))
      .catch((err) => setError(messageOf(err)));
  }, []);

  const submit = async () => {
    setError(null);
    if (password !== again) return setError("The passwords differ.");
    try {
      await post("/api/identity/setup", { token, username, password });
      await post("/api/identity/login", { username, password });
      // Leave the one-time link behind: the token is spent and should not stay in the address bar or history.
      history.replaceState(null, "", "/");
      await props.onDone();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <main class="narrow" id="main">
      <h1>Create the first administrator</h1>
      {needed === false ? (
        <Notice tone="info">
          Setup is already done. <a href="/">Go to the login page</a>.
        </Notice>
      ) : !token ? (
        <Notice tone="error">
          This setup link has no token. Use the complete link that <code>nexus up</code> printed on the box.
        </Notice>
      ) : (
        <>
          <p class="lead">
            This one-time link creates the box's first administrator account. There is no default password.
          </p>
          <Form onSubmit={submit} submit="Create administrator" label="Create the first administrator">
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
              autocomplete="new-password"
              minLength={10}
              hint="At least 10 characters, not containing the username."
              required
              name="password"
            />
            <Field
              label="Password again"
              type="password"
              value={again}
              onInput={setAgain}
              autocomplete="new-password"
              required
              name="password2"
            />
          </Form>
        </>
      )}
      {error && <Notice tone="error">{error}</Notice>}
    </main>
  );
}
