// Vite builds the agent desktop into the inbox package; Vitest runs the unit tests in jsdom.
import { fileURLToPath } from "node:url";
import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vitest/config";

const outDir = fileURLToPath(new URL("../src/omnihub/inbox/webapp", import.meta.url));

export default defineConfig({
  base: "/app/",
  plugins: [vue()],
  resolve: {
    alias: {
      // Messages are compiled by intl-messageformat (ICU), so vue-i18n's own compiler is left out.
      "vue-i18n": "vue-i18n/dist/vue-i18n.runtime.esm-bundler.js",
    },
  },
  define: {
    __VUE_I18N_FULL_INSTALL__: true,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
    __INTLIFY_JIT_COMPILATION__: false,
    __INTLIFY_DROP_MESSAGE_COMPILER__: true,
  },
  server: {
    // `npx vite` for development: the API and the socket come from a running inbox (make run).
    proxy: { "/api": "http://127.0.0.1:8080", "/ws": { target: "ws://127.0.0.1:8080", ws: true } },
  },
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
  test: {
    environment: "jsdom",
    globals: true,
    include: ["tests/**/*.test.ts"],
  },
});
