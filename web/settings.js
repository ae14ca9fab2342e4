// The page's settings: URL parameters first, then what this browser remembered, then
// defaults. Only display preferences are remembered; a password never is.

const STORAGE_PREFIX = "vncd.";

// name: [kind, default, remembered across visits]
const SETTINGS = {
    autoconnect: ["boolean", true, false],
    reconnect: ["boolean", true, false],
    view_only: ["boolean", false, false],
    scale: ["boolean", true, true],
    resize: ["boolean", false, true],
    quality: ["level", 6, true],
    compression: ["level", 2, true],
    path: ["path", "websockify", false],
};

const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off"]);

// A parameter's text as the setting's value, or undefined when it makes no sense.
function parse(kind, text) {
    const word = text.trim().toLowerCase();
    switch (kind) {
        case "boolean":
            if (TRUE_WORDS.has(word)) return true;
            if (FALSE_WORDS.has(word)) return false;
            return undefined;
        case "level":
            return /^[0-9]$/.test(word) ? Number(word) : undefined;
        case "path":
            // A path on this server only: no scheme, no host, nothing to escape the origin
            // ("//x" would name another host: leading slashes become one).
            return /^[A-Za-z0-9._~\/-]*$/.test(text) ? text.replace(/^\/+/, "/") : undefined;
    }
    return undefined;
}

function remembered(storage, name) {
    try {
        return storage?.getItem(STORAGE_PREFIX + name) ?? null;
    } catch {
        return null; // storage disabled (private mode, blocked cookies)
    }
}

// Read every setting. `params` is a URLSearchParams, `storage` a Storage or null.
// Returns { settings, password, problems }: problems name the parameters that were ignored.
export function loadSettings(params, storage) {
    const settings = {};
    const problems = [];
    for (const [name, [kind, fallback, remember]] of Object.entries(SETTINGS)) {
        settings[name] = fallback;
        const stored = remember ? remembered(storage, name) : null;
        if (stored !== null) {
            settings[name] = parse(kind, stored) ?? fallback;
        }
        if (params.has(name)) {
            const value = parse(kind, params.get(name));
            if (value === undefined) {
                problems.push(name);
            } else {
                settings[name] = value;
            }
        }
    }
    const password = params.get("password");
    return { settings, password, problems };
}

// Remember a display preference for the next visit (other settings are not stored).
export function rememberSetting(storage, name, value) {
    if (!SETTINGS[name]?.[2]) return;
    try {
        storage?.setItem(STORAGE_PREFIX + name, String(value));
    } catch {
        // Storage full or disabled: the setting still applies to this visit.
    }
}

// The URL without its password parameter, so the secret leaves the address bar and history.
export function withoutPassword(href) {
    const url = new URL(href);
    if (!url.searchParams.has("password")) return null;
    url.searchParams.delete("password");
    return url.href;
}
