// Login and Register (§3.1, §3.2).

import { useState } from "react";
import { api, setTokens, type TokenPair } from "../api/client";
import { queryClient } from "../api/queries";
import { Link, navigate, useLocation } from "../lib/router";
import { FormAlert, SubmitButton, TextField, useSubmit } from "../ui/form";

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** Only console paths may be a redirect target. */
export function safeRedirect(r: string | null): string {
  return r && r.startsWith("/") && !r.startsWith("//") && !r.includes("\\") ? r : "/";
}

export function Login() {
  const { search } = useLocation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [local, setLocal] = useState<Record<string, string>>({});
  const s = useSubmit();
  const submit = async () => {
    const l: Record<string, string> = {};
    if (!EMAIL.test(email.trim())) l.email = "Enter a valid email address";
    if (!password) l.password = "Enter your password";
    else if (password.length > 72) l.password = "At most 72 characters";
    setLocal(l);
    if (Object.keys(l).length) return;
    const pair = await s.run(
      () => api.post<TokenPair>("/api/auth/login", { email: email.trim(), password }),
      (e) => (e.status === 401 ? { message: "Invalid email or password" } : null),
    );
    if (pair) {
      queryClient.clear();
      setTokens(pair);
      navigate(safeRedirect(search.get("redirect")), { replace: true, force: true });
    }
  };
  return (
    <main className="center-page auth-page">
      <h1>Sign in to Backendify</h1>
      <form noValidate onSubmit={(e) => { e.preventDefault(); void submit(); }} className="card">
        <FormAlert error={s.error} />
        <TextField label="Email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} error={local.email ?? s.fields.email} required />
        <TextField label="Password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} error={local.password ?? s.fields.password} required />
        <SubmitButton busy={s.busy}>Sign in</SubmitButton>
        <p>No account? <Link to="/register">Register</Link></p>
      </form>
    </main>
  );
}

export function Register() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [local, setLocal] = useState<Record<string, string>>({});
  const s = useSubmit();
  const submit = async () => {
    const l: Record<string, string> = {};
    if (!EMAIL.test(email.trim())) l.email = "Enter a valid email address";
    if (password.length < 8 || password.length > 72) l.password = "8 to 72 characters";
    if (confirm !== password) l.confirm = "The passwords do not match";
    setLocal(l);
    if (Object.keys(l).length) return;
    const pair = await s.run(
      () => api.post<TokenPair>("/api/auth/register", { email: email.trim(), password }),
      (e) => (e.status === 409 ? { fields: { email: "An account with this email already exists" } } : null),
    );
    if (pair) {
      queryClient.clear();
      setTokens(pair);
      navigate("/", { replace: true, force: true });
    }
  };
  return (
    <main className="center-page auth-page">
      <h1>Create an admin account</h1>
      <form noValidate onSubmit={(e) => { e.preventDefault(); void submit(); }} className="card">
        <FormAlert error={s.error} />
        <TextField label="Email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} error={local.email ?? s.fields.email} required />
        <TextField label="Password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} error={local.password ?? s.fields.password} hint="8 to 72 characters" required />
        <TextField label="Confirm password" type="password" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} error={local.confirm} required />
        <SubmitButton busy={s.busy}>Create account</SubmitButton>
        <p>Already registered? <Link to="/login">Sign in</Link></p>
      </form>
    </main>
  );
}
