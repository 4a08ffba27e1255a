'use client';

import { useRouter } from 'next/navigation';
import { useState } from 'react';

import { authClient } from '@/lib/auth-client';

export default function SignIn() {
  const router = useRouter();
  const [mode, setMode] = useState<'sign-in' | 'sign-up'>('sign-in');
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const { error } =
      mode === 'sign-up'
        ? await authClient.signUp.email({ name: name || email, email, password })
        : await authClient.signIn.email({ email, password });
    setBusy(false);
    if (error) {
      setError(error.message ?? 'failed');
      return;
    }
    router.push('/chat');
    router.refresh();
  }

  return (
    <form className="auth" onSubmit={submit}>
      <h1>{mode === 'sign-up' ? 'Create an account' : 'Sign in'}</h1>
      {mode === 'sign-up' && (
        <input aria-label="Name" placeholder="Name" value={name} onChange={(e) => setName(e.target.value)} />
      )}
      <input aria-label="Email" type="email" placeholder="Email" value={email} onChange={(e) => setEmail(e.target.value)} required />
      <input
        aria-label="Password"
        type="password"
        placeholder="Password (8 characters or more)"
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        required
      />
      {error && <p className="error">{error}</p>}
      <button className="primary" type="submit" disabled={busy}>
        {mode === 'sign-up' ? 'Sign up' : 'Sign in'}
      </button>
      <button type="button" onClick={() => setMode(mode === 'sign-up' ? 'sign-in' : 'sign-up')}>
        {mode === 'sign-up' ? 'I have an account' : 'Create an account'}
      </button>
    </form>
  );
}
