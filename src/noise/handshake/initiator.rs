//! The client side of the handshake; the proxy runs it on its upstream leg.

use super::*;

/// The client side; the proxy uses it on its upstream leg.
pub struct Initiator {
    /// The state both roles share.
    pub(super) p: Party,
    /// The server key the client pinned (IK), if any.
    pub(super) pinned: Option<[u8; LEN]>,
}

impl Initiator {
    /// XX when `server_static` is None, IK when Some.
    pub fn new(prologue: [u8; 4], local_static: Keypair, server_static: Option<[u8; 32]>) -> Self {
        let pattern = if server_static.is_some() {
            Pattern::Ik
        } else {
            Pattern::Xx
        };
        Self {
            p: Party::new(prologue, local_static, pattern),
            pinned: server_static,
        }
    }

    /// Uses `ss` as IK's static-static DH instead of computing it: the result of an
    /// earlier session with the same local key and the same pinned server key, which the
    /// caller must make sure of. Ignored in XX.
    pub fn with_static_static(mut self, ss: zeroize::Zeroizing<[u8; 32]>) -> Self {
        if self.pinned.is_some() {
            self.p.ss = Some(ss);
        }
        self
    }

    /// `payload` is the ClientPayload, sent (encrypted) only in IK; ignored in XX.
    pub fn client_hello(&mut self, payload: &[u8]) -> Result<ClientHello, NoiseError> {
        let r = self.client_hello_inner(payload);
        self.p.poison_on_err(r)
    }

    fn client_hello_inner(&mut self, payload: &[u8]) -> Result<ClientHello, NoiseError> {
        if self.p.step != Step::Start {
            return Err(NoiseError::WrongState("client hello already sent"));
        }
        let e = self.p.e.get_or_insert_with(Keypair::ephemeral).clone();
        let hello = match self.pinned {
            None => {
                let mut sym = SymmetricState::new(self.p.backend, XX_NAME, &self.p.prologue)?;
                sym.mix_hash(&e.public);
                #[cfg(test)]
                if self.p.dialect == Dialect::Standard {
                    sym.encrypt_and_hash(&[])?;
                }
                self.p.sym = Some(sym);
                ClientHello {
                    ephemeral: Some(e.public.to_vec()),
                    r#static: None,
                    payload: None,
                }
            }
            Some(rs) => {
                let mut sym = SymmetricState::new(self.p.backend, IK_NAME, &self.p.prologue)?;
                sym.mix_hash(&rs);
                sym.mix_hash(&e.public);
                sym.mix_key(self.p.backend.dh(&e, &rs)?.as_ref());
                let s_ct = sym.encrypt_and_hash(&self.p.s.public)?;
                let ss = match self.p.ss.take() {
                    Some(known) => known,
                    None => self.p.backend.dh(&self.p.s, &rs)?,
                };
                sym.mix_key(ss.as_ref());
                self.p.ss = Some(ss);
                let p_ct = sym.encrypt_and_hash(payload)?;
                self.p.sym = Some(sym);
                ClientHello {
                    ephemeral: Some(e.public.to_vec()),
                    r#static: Some(s_ct),
                    payload: Some(p_ct),
                }
            }
        };
        self.p.step = Step::Hello;
        Ok(hello)
    }

    /// In IK, a ServerHello that carries a `static` switches to XXfallback (fresh ephemeral not needed: the
    /// client's ephemeral is the pre-message). Returns the decrypted server payload (the cert chain bytes in
    /// XX/XXfallback; empty in IK).
    pub fn read_server_hello(&mut self, hello: &ServerHello) -> Result<Vec<u8>, NoiseError> {
        let r = self.read_server_hello_inner(hello);
        self.p.poison_on_err(r)
    }

    fn read_server_hello_inner(&mut self, hello: &ServerHello) -> Result<Vec<u8>, NoiseError> {
        if self.p.step != Step::Hello {
            return Err(NoiseError::WrongState("not awaiting a server hello"));
        }
        let re = ephemeral(&hello.ephemeral)?;
        let p_ct = payload_ct(&hello.payload)?;
        let e = self.p.e()?.clone();
        let backend = self.p.backend;

        if self.p.pattern == Pattern::Ik && hello.r#static.is_none() {
            // <- e, ee, se
            let sym = self.p.sym()?;
            sym.mix_hash(&re);
            sym.mix_key(backend.dh(&e, &re)?.as_ref());
            let se = backend.dh(&self.p.s, &re)?;
            let sym = self.p.sym()?;
            sym.mix_key(se.as_ref());
            let payload = sym.decrypt_and_hash(p_ct)?;
            self.p.re = Some(re);
            self.p.rs = self.pinned;
            self.p.step = Step::Complete;
            return Ok(payload);
        }

        let s_ct = static_ct(&hello.r#static)?;
        if self.p.pattern == Pattern::Ik {
            // The server could not use our pinned key and restarted with XXfallback,
            // whose pre-message is the ephemeral we already sent.
            let mut sym = SymmetricState::new(backend, FALLBACK_NAME, &self.p.prologue)?;
            sym.mix_hash(&e.public);
            self.p.sym = Some(sym);
            self.p.pattern = Pattern::XxFallback;
        }
        // <- e, ee, s, es
        let sym = self.p.sym()?;
        sym.mix_hash(&re);
        sym.mix_key(backend.dh(&e, &re)?.as_ref());
        let rs = key32(&sym.decrypt_and_hash(s_ct)?, "static")?;
        sym.mix_key(backend.dh(&e, &rs)?.as_ref());
        let payload = sym.decrypt_and_hash(p_ct)?;
        self.p.re = Some(re);
        self.p.rs = Some(rs);
        self.p.step = Step::Finish;
        Ok(payload)
    }

    /// XX and XXfallback: encrypts static and payload. IK: returns Ok(None) (no third message).
    pub fn client_finish(&mut self, payload: &[u8]) -> Result<Option<ClientFinish>, NoiseError> {
        let r = self.client_finish_inner(payload);
        self.p.poison_on_err(r)
    }

    fn client_finish_inner(&mut self, payload: &[u8]) -> Result<Option<ClientFinish>, NoiseError> {
        match (self.p.pattern, self.p.step) {
            (Pattern::Ik, Step::Complete) => return Ok(None),
            (Pattern::Xx | Pattern::XxFallback, Step::Finish) => {}
            _ => return Err(NoiseError::WrongState("not ready for client finish")),
        }
        let re = self
            .p
            .re
            .ok_or(NoiseError::WrongState("no remote ephemeral"))?;
        // -> s, se
        let se = self.p.backend.dh(&self.p.s, &re)?;
        let s_public = self.p.s.public;
        let sym = self.p.sym()?;
        let s_ct = sym.encrypt_and_hash(&s_public)?;
        sym.mix_key(se.as_ref());
        let p_ct = sym.encrypt_and_hash(payload)?;
        self.p.step = Step::Complete;
        Ok(Some(ClientFinish {
            r#static: Some(s_ct),
            payload: Some(p_ct),
        }))
    }

    /// Splits into transport keys; the client sends with the first.
    pub fn into_transport(mut self) -> Result<TransportState, NoiseError> {
        // The initiator sends with k1, the responder with k2.
        let (backend, k1, k2) = self.p.split()?;
        TransportState::new(backend, k1, k2)
    }
}
