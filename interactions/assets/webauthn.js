// Security key pages: asks the browser for a WebAuthn credential (create) or a signature (get)
// with the options the server put on the form, then posts the answer in the `credential` field.
// Served from /assets (CSP script-src 'self'); pages without the form are left alone.
(function () {
  'use strict';
  var form = document.querySelector('form[data-webauthn]');
  if (!form) return;
  var button = form.querySelector('[data-webauthn-start]');
  var status = form.querySelector('[data-webauthn-status]');
  var field = form.querySelector('input[name="credential"]');
  var spec = JSON.parse(form.getAttribute('data-webauthn') || '{}');
  if (!window.PublicKeyCredential || !navigator.credentials || !spec.options) {
    status.textContent = form.getAttribute('data-webauthn-unsupported');
    return;
  }

  function toBytes(s) {
    var b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
    var out = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
    return out.buffer;
  }
  function toText(buf) {
    var bytes = new Uint8Array(buf);
    var s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function withIds(list) {
    return (list || []).map(function (c) {
      return { type: c.type || 'public-key', id: toBytes(c.id), transports: c.transports };
    });
  }

  function publicKey() {
    var o = Object.assign({}, spec.options);
    o.challenge = toBytes(o.challenge);
    if (spec.mode === 'create') {
      o.user = Object.assign({}, o.user, { id: toBytes(o.user.id) });
      o.excludeCredentials = withIds(o.excludeCredentials);
    } else {
      o.allowCredentials = withIds(o.allowCredentials);
    }
    return o;
  }

  function answer(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toText(r.clientDataJSON) };
    if (spec.mode === 'create') {
      response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) response.userHandle = toText(r.userHandle);
    }
    return { id: cred.id, rawId: toText(cred.rawId), type: cred.type, response: response, clientExtensionResults: {} };
  }

  button.hidden = false;
  button.addEventListener('click', function () {
    button.disabled = true;
    status.textContent = '';
    var ask = spec.mode === 'create' ? navigator.credentials.create({ publicKey: publicKey() }) : navigator.credentials.get({ publicKey: publicKey() });
    ask.then(
      function (cred) {
        field.value = JSON.stringify(answer(cred));
        form.submit();
      },
      function () {
        button.disabled = false;
        status.textContent = form.getAttribute('data-webauthn-cancelled');
      },
    );
  });
})();
