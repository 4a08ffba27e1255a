import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** @type {import('next').NextConfig} */
const nextConfig = {
  // @chat-history/client is linked from ../../clients/typescript: trace files from the
  // repository's root so that `next start` finds it.
  outputFileTracingRoot: path.join(here, "../.."),
  // pg is a Node package with optional native parts: load it at run time, do not bundle it.
  serverExternalPackages: ["pg"],
};

export default nextConfig;
