// Placeholder until the screen lands.
export default function Screen({ pid }: { pid: string }) {
  return <div className="page"><h1>views</h1><p className="muted">{pid}</p></div>;
}
