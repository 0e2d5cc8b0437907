// Passkeys on Gatehouse's pages (the server side is internal/authz/passkey.go).
//
// Each element with data-passkey="login", "factor" or "register" holds a
// form that posts the credential the browser makes, and names in
// data-options where the ceremony's options come from (a POST with the
// form's CSRF token, answered in JSON). The elements are hidden until this
// script finds WebAuthn in the browser; without either, the pages work
// with passwords and codes alone. The Content-Security-Policy allows no
// inline script, so everything the script needs is in the page's markup.
'use strict';

(() => {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  // --- base64url and the JSON forms of WebAuthn's options and credentials ---

  const toBase64url = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let s = '';
    for (const b of bytes) {
      s += String.fromCharCode(b);
    }
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };

  const fromBase64url = (text) => {
    const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const s = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      bytes[i] = s.charCodeAt(i);
    }
    return bytes.buffer;
  };

  const descriptors = (list) => (list || []).map((d) => ({ ...d, id: fromBase64url(d.id) }));

  // creationOptions and requestOptions turn the server's JSON options into
  // what navigator.credentials expects (WebAuthn Level 3 §5.1.8, §5.1.9).
  const creationOptions = (json) => {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function') {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: fromBase64url(json.challenge),
      user: { ...json.user, id: fromBase64url(json.user.id) },
      excludeCredentials: descriptors(json.excludeCredentials),
    };
  };

  const requestOptions = (json) => {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function') {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: fromBase64url(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    };
  };

  // credentialJSON is the credential as the server reads it (§5.1, toJSON).
  const credentialJSON = (cred) => {
    if (typeof cred.toJSON === 'function') {
      try {
        return cred.toJSON();
      } catch {
        // Some browsers' toJSON fails on extension outputs: built below.
      }
    }
    const r = cred.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      if (typeof r.getTransports === 'function') {
        response.transports = r.getTransports();
      }
      if (typeof r.getAuthenticatorData === 'function') {
        response.authenticatorData = toBase64url(r.getAuthenticatorData());
      }
      if (typeof r.getPublicKeyAlgorithm === 'function') {
        response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
      }
      const key = typeof r.getPublicKey === 'function' ? r.getPublicKey() : null;
      if (key) {
        response.publicKey = toBase64url(key);
      }
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle) {
        response.userHandle = toBase64url(r.userHandle);
      }
    }
    const json = { id: cred.id, rawId: toBase64url(cred.rawId), type: cred.type, response, clientExtensionResults: {} };
    if (cred.authenticatorAttachment) {
      json.authenticatorAttachment = cred.authenticatorAttachment;
    }
    return json;
  };

  // --- talking to the server ---

  class PasskeyError extends Error {}

  const fetchOptions = async (area, form, signal) => {
    const body = new URLSearchParams({ csrf_token: form.elements.csrf_token.value });
    let resp;
    let json = null;
    try {
      resp = await fetch(area.dataset.options, {
        method: 'POST', body, credentials: 'same-origin', headers: { Accept: 'application/json' }, signal,
      });
      json = await resp.json();
    } catch (err) {
      if (err.name === 'AbortError') {
        throw err;
      }
      throw new PasskeyError('The service could not be reached. Try again shortly.');
    }
    if (!resp.ok || !json || !json.publicKey) {
      const desc = json && json.error_description;
      throw new PasskeyError(desc ? desc.charAt(0).toUpperCase() + desc.slice(1) + '.' : 'The service is unavailable. Try again shortly.');
    }
    return json;
  };

  const submit = (form, cred) => {
    form.elements.credential.value = JSON.stringify(credentialJSON(cred));
    form.submit();
  };

  // --- errors, shown in the page ---

  const messages = {
    NotAllowedError: 'The passkey request was cancelled or timed out.',
    InvalidStateError: 'This device already holds a passkey for your account.',
    NotSupportedError: 'This browser or device does not support passkeys.',
    SecurityError: 'Passkeys are not available at this address.',
  };

  const showError = (area, err) => {
    if (err.name === 'AbortError') {
      return; // the page started another request
    }
    const el = area.querySelector('[data-passkey-error]');
    el.textContent = err instanceof PasskeyError ? err.message : messages[err.name] || 'The passkey request failed. Try again.';
    el.hidden = false;
  };

  const clearError = (area) => {
    area.querySelector('[data-passkey-error]').hidden = true;
  };

  // --- the ceremonies ---

  // signIn runs one request for a passkey and posts what it gets. Each
  // start aborts the one before: pressing the button replaces the
  // conditional request that autofill answers.
  let current = null;
  const signIn = async (area, form, mediation) => {
    if (current) {
      current.abort();
    }
    const ctrl = new AbortController();
    current = ctrl;
    const json = await fetchOptions(area, form, ctrl.signal);
    const options = { publicKey: requestOptions(json.publicKey), signal: ctrl.signal };
    if (mediation) {
      options.mediation = mediation;
    }
    const cred = await navigator.credentials.get(options);
    if (cred) {
      submit(form, cred);
    }
  };

  const register = async (area, form) => {
    const json = await fetchOptions(area, form);
    const cred = await navigator.credentials.create({ publicKey: creationOptions(json.publicKey) });
    if (cred) {
      submit(form, cred);
    }
  };

  const setUp = (area) => {
    const form = area.querySelector('form');
    const button = form.querySelector('button');
    const kind = area.dataset.passkey;
    area.hidden = false;
    button.addEventListener('click', () => {
      clearError(area);
      const run = kind === 'register' ? register(area, form) : signIn(area, form);
      run.catch((err) => showError(area, err));
    });
    // Enter in the form's text field starts the ceremony too, rather than
    // posting the form without a credential.
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      button.click();
    });
    if (kind === 'login' && typeof PublicKeyCredential.isConditionalMediationAvailable === 'function') {
      // Autofill on the username field (autocomplete="username webauthn")
      // offers the passkeys; errors of this quiet request stay quiet.
      PublicKeyCredential.isConditionalMediationAvailable()
        .then((available) => available && signIn(area, form, 'conditional'))
        .catch(() => {});
    }
  };

  document.querySelectorAll('[data-passkey]').forEach(setUp);
})();
