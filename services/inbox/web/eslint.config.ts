// ESLint flat config: Vue 3 recommended rules and typescript-eslint's recommended rules.
import pluginVue from "eslint-plugin-vue";
import { vueTsConfigs, withVueTs } from "@vue/eslint-config-typescript";

export default withVueTs(
  { ignores: ["node_modules/**", "../src/**"] },
  pluginVue.configs["flat/recommended"],
  vueTsConfigs.recommended,
  {
    rules: {
      "vue/max-attributes-per-line": "off",
      "vue/singleline-html-element-content-newline": "off",
      "vue/html-self-closing": "off",
      "vue/no-v-html": "error",
    },
  },
);
