// vncd's browser client: noVNC's RFB object, connected back to the server that served this
// page, with a status line, a password prompt, a clipboard box and the viewer settings.

import RFB from "./node_modules/@novnc/novnc/core/rfb.js";
import { loadSettings, rememberSetting, withoutPassword } from "./settings.js";

// Automatic reconnection waits 1, 2, 4, … seconds, at most this long.
const MAX_RETRY_SECONDS = 30;

const $ = (id) => document.getElementById(id);
const ui = {
    status: $("status"),
    statusText: $("status-text"),
    connectButton: $("connect-button"),
    fullscreenButton: $("fullscreen-button"),
    clipboard: $("clipboard"),
    clipboardSend: $("clipboard-send"),
    viewOnly: $("view-only"),
    scale: $("scale"),
    resize: $("resize"),
    quality: $("quality"),
    qualityValue: $("quality-value"),
    compression: $("compression"),
    compressionValue: $("compression-value"),
    passwordForm: $("password-form"),
    username: $("username"),
    usernameLabel: document.querySelector('label[for="username"]'),
    password: $("password"),
    screen: $("screen"),
};

const storage = (() => {
    try {
        return window.localStorage;
    } catch {
        return null; // storage blocked for this page
    }
})();
const loaded = loadSettings(new URLSearchParams(location.search), storage);
const settings = loaded.settings;
if (loaded.problems.length) {
    console.warn(`vncd: ignored URL parameters with unusable values: ${loaded.problems.join(", ")}`);
}
// Held in memory only, for reconnections; the URL forgets it at once.
let password = loaded.password;
// Asked for only when the server wants a name (a users file: RSA-AES or Tight's login).
let username = null;
const cleanUrl = withoutPassword(location.href);
if (cleanUrl !== null) {
    history.replaceState(history.state, "", cleanUrl);
}

let rfb = null; // the current connection, if any
let wanted = false; // the user wants to be connected (false after "Disconnect")
let retries = 0; // failed attempts since the last good connection
let retryTimer = null;

function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.statusText.textContent = text;
    const active = ["connecting", "credentials", "connected"].includes(state);
    ui.connectButton.textContent = active
        ? "Disconnect"
        : state === "retrying"
          ? "Reconnect now"
          : "Connect";
    ui.clipboardSend.disabled = state !== "connected";
}

// Relative to the page, so that a page served under a prefix (a proxy's /desktop/2/) finds
// its WebSocket under the same prefix; a path that starts with "/" is from the root.
function websocketUrl() {
    const url = new URL(settings.path, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.search = url.hash = "";
    return url.href;
}

function connect() {
    cancelRetry();
    hidePasswordForm();
    if (rfb !== null) {
        forget(rfb);
    }
    wanted = true;
    setStatus("connecting", `Connecting to ${location.host}…`);
    let session;
    try {
        session = new RFB(ui.screen, websocketUrl(), {
            shared: true,
            credentials: password ? credentials() : undefined,
        });
    } catch (error) {
        wanted = false;
        setStatus("failed", `Cannot connect: ${error.message}`);
        return;
    }
    rfb = session;
    session.viewOnly = settings.view_only;
    session.scaleViewport = settings.scale;
    session.resizeSession = settings.resize;
    session.qualityLevel = settings.quality;
    session.compressionLevel = settings.compression;
    watch(session);
}

// Close a connection we no longer want, without its events reaching the page.
function forget(session) {
    rfb = null;
    session.disconnect();
}

function watch(session) {
    let connected = false;
    let authFailure = null; // the server's reason when it refused our credentials
    let name = "";
    const on = (type, handler) =>
        session.addEventListener(type, (event) => {
            if (session === rfb) handler(event);
        });

    on("desktopname", (event) => {
        name = event.detail.name;
        document.title = name ? `${name} — vncd` : "vncd";
    });
    on("serververification", () => {
        // RSA-AES (RA2ne): noVNC waits for the page to accept the server's key. The page
        // came from this server, so its key is taken as the page was (no pinning yet).
        session.approveServer();
    });
    on("credentialsrequired", (event) => {
        const wantsName = event.detail.types.includes("username");
        setStatus(
            "credentials",
            wantsName ? "The server asks for a user name and password" : "The server asks for a password",
        );
        showPasswordForm(wantsName);
    });
    on("securityfailure", (event) => {
        authFailure = event.detail.reason || "authentication failed";
        password = null;
    });
    on("connect", () => {
        connected = true;
        retries = 0;
        hidePasswordForm();
        setStatus("connected", name ? `Connected to ${name}` : `Connected to ${location.host}`);
        if (document.activeElement === document.body) {
            session.focus();
        }
    });
    on("clipboard", (event) => {
        ui.clipboard.value = event.detail.text;
    });
    on("disconnect", (event) => {
        rfb = null;
        if (!wanted) {
            setStatus("disconnected", "Disconnected");
        } else if (authFailure !== null) {
            wanted = false;
            setStatus("failed", `Not connected: ${authFailure}`);
            showPasswordForm(username !== null);
        } else {
            let reason = "cannot reach the server";
            if (connected) {
                reason = event.detail.clean ? "the server closed the connection" : "connection lost";
            }
            if (settings.reconnect) {
                scheduleRetry(reason);
            } else {
                wanted = false;
                setStatus("disconnected", `Disconnected: ${reason}`);
            }
        }
    });
}

function scheduleRetry(reason) {
    let seconds = Math.min(MAX_RETRY_SECONDS, 2 ** retries);
    retries += 1;
    const tick = () => {
        if (seconds <= 0) {
            connect();
            return;
        }
        setStatus("retrying", `Disconnected: ${reason}. Retrying in ${seconds} s`);
        seconds -= 1;
        retryTimer = setTimeout(tick, 1000);
    };
    tick();
}

function cancelRetry() {
    clearTimeout(retryTimer);
    retryTimer = null;
}

// What noVNC sends when asked: the name only when the server asked for one.
function credentials() {
    return username === null ? { password } : { username, password };
}

function showPasswordForm(wantsName) {
    ui.username.hidden = ui.usernameLabel.hidden = !wantsName;
    ui.username.required = wantsName;
    ui.passwordForm.hidden = false;
    (wantsName && !ui.username.value ? ui.username : ui.password).focus();
}

function hidePasswordForm() {
    ui.passwordForm.hidden = true;
    ui.password.value = "";
}

ui.passwordForm.addEventListener("submit", (event) => {
    event.preventDefault();
    password = ui.password.value;
    username = ui.username.hidden ? null : ui.username.value;
    hidePasswordForm();
    if (rfb !== null && ui.status.dataset.state === "credentials") {
        setStatus("connecting", "Checking the password…");
        rfb.sendCredentials(credentials());
    } else {
        connect();
    }
});

ui.connectButton.addEventListener("click", () => {
    if (rfb !== null) {
        wanted = false;
        cancelRetry();
        rfb.disconnect();
    } else {
        retries = 0;
        connect();
    }
});

ui.clipboardSend.addEventListener("click", () => {
    rfb?.clipboardPasteFrom(ui.clipboard.value);
});

// --- Settings: each control shows its setting, applies changes to the live connection and
// remembers display preferences.

function bindCheckbox(input, name, property) {
    input.checked = settings[name];
    input.addEventListener("change", () => {
        settings[name] = input.checked;
        rememberSetting(storage, name, input.checked);
        if (rfb !== null) rfb[property] = input.checked;
    });
}

function bindLevel(input, output, name, property) {
    input.value = String(settings[name]);
    output.value = input.value;
    input.addEventListener("input", () => {
        output.value = input.value;
    });
    input.addEventListener("change", () => {
        settings[name] = Number(input.value);
        rememberSetting(storage, name, settings[name]);
        if (rfb !== null) rfb[property] = settings[name];
    });
}

bindCheckbox(ui.viewOnly, "view_only", "viewOnly");
bindCheckbox(ui.scale, "scale", "scaleViewport");
bindCheckbox(ui.resize, "resize", "resizeSession");
bindLevel(ui.quality, ui.qualityValue, "quality", "qualityLevel");
bindLevel(ui.compression, ui.compressionValue, "compression", "compressionLevel");

// Escape closes the open panel (Clipboard, Settings) and returns to its button.
document.addEventListener("keydown", (event) => {
    const panel = document.querySelector("details.panel[open]");
    if (event.key === "Escape" && panel?.contains(document.activeElement)) {
        panel.open = false;
        panel.querySelector("summary").focus();
    }
});

// --- Full screen (the whole page, so the controls stay at hand).

if (document.fullscreenEnabled) {
    ui.fullscreenButton.hidden = false;
    ui.fullscreenButton.addEventListener("click", () => {
        if (document.fullscreenElement) {
            document.exitFullscreen();
        } else {
            document.documentElement.requestFullscreen().catch((error) => {
                console.warn(`vncd: full screen refused: ${error.message}`);
            });
        }
    });
    document.addEventListener("fullscreenchange", () => {
        ui.fullscreenButton.setAttribute("aria-pressed", String(document.fullscreenElement !== null));
    });
}

if (settings.autoconnect) {
    connect();
} else {
    setStatus("disconnected", "Not connected");
}
