// Entry point: the query cache, the session-expiry handler, the app and the toasts.

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { QueryClientProvider } from "@tanstack/react-query";
import { setSessionExpiredHandler } from "./api/client";
import { queryClient } from "./api/queries";
import { navigate } from "./lib/router";
import { App } from "./App";
import { Toaster, toast } from "./ui/toast";
import "./style.css";

setSessionExpiredHandler(() => {
  queryClient.clear();
  toast("Session expired", "error");
  const here = window.location.pathname.replace(/^\/console/, "") + window.location.search;
  if (!here.startsWith("/login")) navigate(`/login?redirect=${encodeURIComponent(here || "/")}`, { replace: true, force: true });
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App />
      <Toaster />
    </QueryClientProvider>
  </StrictMode>,
);
