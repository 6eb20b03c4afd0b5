import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { api, session } from './api';
import { reasonOf } from './hooks';
import { ClientPage, ClientsPage } from './pages/Clients';
import { DeploymentsPage } from './pages/Deployments';
import { HierarchyPage } from './pages/Hierarchy';
import { MessagesPage } from './pages/Messages';
import { PackagePage, PackagesPage } from './pages/Packages';
import { SitePage } from './pages/Site';
import './styles.css';

/** The page the URL's fragment names: `#/sites/S02` → ['sites', 'S02']. */
const readRoute = (): string[] =>
  window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);

function useRoute(): string[] {
  const [route, setRoute] = useState(readRoute);
  useEffect(() => {
    const onChange = () => {
      setRoute(readRoute());
      window.scrollTo(0, 0);
    };
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

const NAV = [
  { href: '#/', label: 'Hierarchy', section: '' },
  { href: '#/packages', label: 'Packages', section: 'packages' },
  { href: '#/messages', label: 'Status messages', section: 'messages' },
  { href: '#/deployments', label: 'Deployments', section: 'deployments' },
  { href: '#/clients', label: 'Clients', section: 'clients' },
];

function Page({ route }: { route: string[] }) {
  const [section, id] = route;
  if (section === 'sites' && id) return <SitePage code={id} />;
  if (section === 'packages' && id) return <PackagePage id={id} />;
  if (section === 'packages') return <PackagesPage />;
  if (section === 'messages') return <MessagesPage />;
  if (section === 'deployments') return <DeploymentsPage />;
  if (section === 'clients' && id) return <ClientPage id={id} />;
  if (section === 'clients') return <ClientsPage />;
  return <HierarchyPage />;
}

function Login({ onLogin }: { onLogin: (site: string) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main className="login">
      <h1>Outpost console</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const site = await api<{ code: string }>('GET', '/site', { token: token.trim() });
            session.set(token.trim());
            onLogin(site.code);
          } catch (err) {
            setError(reasonOf(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <label htmlFor="token">Admin token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          required
        />
        <p className="muted">
          The token is in the site's data directory (<code>DATA/admin.token</code>), where the CLI finds it.
          It stays in this tab only.
        </p>
        <button type="submit" disabled={busy || !token.trim()}>
          Log in
        </button>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function App() {
  const route = useRoute();
  const [site, setSite] = useState<string | null>(null);
  const [checked, setChecked] = useState(false);
  useEffect(() => {
    // A reload keeps the tab's session: check that its token still works.
    if (!session.token()) {
      setChecked(true);
      return;
    }
    api<{ code: string }>('GET', '/site')
      .then((s) => setSite(s.code))
      .catch(() => session.clear())
      .finally(() => setChecked(true));
  }, []);
  if (!checked) return null;
  if (!site) return <Login onLogin={setSite} />;
  const current = route[0] ?? '';
  return (
    <>
      <header>
        <span className="brand">
          Outpost <span className="muted">at {site}</span>
        </span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.href}>
                <a
                  href={n.href}
                  aria-current={
                    current === n.section || (n.section === '' && current === 'sites') ? 'page' : undefined
                  }
                >
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          className="secondary"
          onClick={() => {
            session.clear();
            setSite(null);
          }}
        >
          Log out
        </button>
      </header>
      <main id="content" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

const root = document.getElementById('root');
if (root)
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
