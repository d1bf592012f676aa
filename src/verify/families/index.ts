// Built-in verify families, registered in import order (first match wins). To add a family, create
// src/verify/families/<name>.ts calling registerVerifyFamily() / registerOutputExtension() and import it here.
import "./dit.js";
import "./mmdit.js";
import "./schedulers.js";
import "./ditDdim.js";
import "./pixart.js";
import "./wan.js";
import "./vaeKl.js";
