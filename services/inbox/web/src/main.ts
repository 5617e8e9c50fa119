// Entry point: Vue (runtime-only build), Pinia and vue-i18n, mounted on #app.
import { createPinia } from "pinia";
import { createApp } from "vue";
import App from "./App.vue";
import { i18n, language } from "./i18n";
import "./style.css";

document.documentElement.lang = language();
createApp(App).use(createPinia()).use(i18n).mount("#app");
