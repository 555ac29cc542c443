//! The server side of the handshake; the proxy runs it on its client leg.

use super::*;

/// Gives IK's static-static DH for a client static key, when the caller kept it.
pub type KnownStaticStatic<'a> = dyn Fn(&[u8; 32]) -> Option<zeroize::Zeroizing<[u8; 32]>> + 'a;

/// What a decrypted IK hello leaves: the state, the client's static key, the
/// static-static DH and the client's payload.
type IkHello = (
    SymmetricState,
    [u8; LEN],
    zeroize::Zeroizing<[u8; LEN]>,
    Vec<u8>,
);

/// The server side; the proxy uses it on its client leg.
pub struct Responder {
    /// The state both roles share.
    pub(super) p: Party,
}

impl Responder {
    /// A responder that will accept XX or IK and fall back to XXfallback as needed.
    pub fn new(prologue: [u8; 4], local_static: Keypair) -> Self {
        Self {
            p: Party::new(prologue, local_static, Pattern::Xx),
        }
    }

    /// ClientHello without `static` -> XX. With `static` -> try IK; if the IK message does not decrypt
    /// (client pinned a different key) switch to XXfallback. Returns Some(client payload) when IK succeeded.
    pub fn read_client_hello(
        &mut self,
        hello: &ClientHello,
    ) -> Result<Option<Vec<u8>>, NoiseError> {
        self.read_client_hello_with(hello, &|_| None)
    }

    /// As [`Responder::read_client_hello`], with `known_ss` giving IK's static-static DH
    /// for a client static key seen before (with this responder's static key), so it is
    /// not computed again. A wrong answer only makes the handshake fail.
    pub fn read_client_hello_with(
        &mut self,
        hello: &ClientHello,
        known_ss: &KnownStaticStatic<'_>,
    ) -> Result<Option<Vec<u8>>, NoiseError> {
        let r = self.read_client_hello_inner(hello, known_ss);
        self.p.poison_on_err(r)
    }

    fn read_client_hello_inner(
        &mut self,
        hello: &ClientHello,
        known_ss: &KnownStaticStatic<'_>,
    ) -> Result<Option<Vec<u8>>, NoiseError> {
        if self.p.step != Step::Start {
            return Err(NoiseError::WrongState("client hello already read"));
        }
        let re = ephemeral(&hello.ephemeral)?;
        self.p.re = Some(re);

        if hello.r#static.is_none() {
            // -> e. A `payload` field is ignored: WhatsApp never sends one, and without a
            // key it could not be authenticated anyway.
            let mut sym = SymmetricState::new(self.p.backend, XX_NAME, &self.p.prologue)?;
            sym.mix_hash(&re);
            #[cfg(test)]
            if self.p.dialect == Dialect::Standard {
                sym.decrypt_and_hash(&[])?;
            }
            self.p.sym = Some(sym);
            self.p.pattern = Pattern::Xx;
            self.p.step = Step::Hello;
            return Ok(None);
        }

        let s_ct = static_ct(&hello.r#static)?;
        let p_ct = payload_ct(&hello.payload)?;
        match self.try_ik(re, s_ct, p_ct, known_ss) {
            Ok((sym, rs, ss, payload)) => {
                self.p.sym = Some(sym);
                self.p.rs = Some(rs);
                self.p.ss = Some(ss);
                self.p.pattern = Pattern::Ik;
                self.p.step = Step::Hello;
                Ok(Some(payload))
            }
            Err(NoiseError::Decrypt) => {
                // The client pinned a key that is not ours; restart as XXfallback with its
                // ephemeral as the pre-message.
                let mut sym = SymmetricState::new(self.p.backend, FALLBACK_NAME, &self.p.prologue)?;
                sym.mix_hash(&re);
                self.p.sym = Some(sym);
                self.p.pattern = Pattern::XxFallback;
                self.p.step = Step::Hello;
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    /// `-> e, es, s, ss` + payload on a fresh state, so a failure leaves nothing behind.
    fn try_ik(
        &self,
        re: [u8; LEN],
        s_ct: &[u8],
        p_ct: &[u8],
        known_ss: &KnownStaticStatic<'_>,
    ) -> Result<IkHello, NoiseError> {
        let mut sym = SymmetricState::new(self.p.backend, IK_NAME, &self.p.prologue)?;
        sym.mix_hash(&self.p.s.public);
        sym.mix_hash(&re);
        sym.mix_key(self.p.backend.dh(&self.p.s, &re)?.as_ref());
        let rs = key32(&sym.decrypt_and_hash(s_ct)?, "static")?;
        let ss = match known_ss(&rs) {
            Some(known) => known,
            None => self.p.backend.dh(&self.p.s, &rs)?,
        };
        sym.mix_key(ss.as_ref());
        let payload = sym.decrypt_and_hash(p_ct)?;
        Ok((sym, rs, ss, payload))
    }

    /// payload = the CertChain bytes in XX/XXfallback; empty in IK.
    pub fn server_hello(&mut self, payload: &[u8]) -> Result<ServerHello, NoiseError> {
        let r = self.server_hello_inner(payload);
        self.p.poison_on_err(r)
    }

    fn server_hello_inner(&mut self, payload: &[u8]) -> Result<ServerHello, NoiseError> {
        if self.p.step != Step::Hello {
            return Err(NoiseError::WrongState("not ready for server hello"));
        }
        let re = self
            .p
            .re
            .ok_or(NoiseError::WrongState("no remote ephemeral"))?;
        let e = self.p.e.get_or_insert_with(Keypair::ephemeral).clone();
        let backend = self.p.backend;
        let ee = backend.dh(&e, &re)?;

        if self.p.pattern == Pattern::Ik {
            // <- e, ee, se
            let rs = self
                .p
                .rs
                .ok_or(NoiseError::WrongState("no remote static"))?;
            let se = backend.dh(&e, &rs)?;
            let sym = self.p.sym()?;
            sym.mix_hash(&e.public);
            sym.mix_key(ee.as_ref());
            sym.mix_key(se.as_ref());
            let p_ct = sym.encrypt_and_hash(payload)?;
            self.p.step = Step::Complete;
            return Ok(ServerHello {
                ephemeral: Some(e.public.to_vec()),
                r#static: None,
                payload: Some(p_ct),
            });
        }

        // <- e, ee, s, es
        let es = backend.dh(&self.p.s, &re)?;
        let s_public = self.p.s.public;
        let sym = self.p.sym()?;
        sym.mix_hash(&e.public);
        sym.mix_key(ee.as_ref());
        let s_ct = sym.encrypt_and_hash(&s_public)?;
        sym.mix_key(es.as_ref());
        let p_ct = sym.encrypt_and_hash(payload)?;
        self.p.step = Step::Finish;
        Ok(ServerHello {
            ephemeral: Some(e.public.to_vec()),
            r#static: Some(s_ct),
            payload: Some(p_ct),
        })
    }

    /// XX/XXfallback: returns the decrypted ClientPayload.
    pub fn read_client_finish(&mut self, finish: &ClientFinish) -> Result<Vec<u8>, NoiseError> {
        let r = self.read_client_finish_inner(finish);
        self.p.poison_on_err(r)
    }

    fn read_client_finish_inner(&mut self, finish: &ClientFinish) -> Result<Vec<u8>, NoiseError> {
        if self.p.step != Step::Finish {
            return Err(NoiseError::WrongState("not awaiting a client finish"));
        }
        let s_ct = static_ct(&finish.r#static)?;
        let p_ct = payload_ct(&finish.payload)?;
        let e = self
            .p
            .e
            .clone()
            .ok_or(NoiseError::WrongState("no ephemeral key"))?;
        let backend = self.p.backend;
        // -> s, se
        let sym = self.p.sym()?;
        let rs = key32(&sym.decrypt_and_hash(s_ct)?, "static")?;
        let se = backend.dh(&e, &rs)?;
        let sym = self.p.sym()?;
        sym.mix_key(se.as_ref());
        let payload = sym.decrypt_and_hash(p_ct)?;
        self.p.rs = Some(rs);
        self.p.step = Step::Complete;
        Ok(payload)
    }

    /// Splits into transport keys; the server sends with the second.
    pub fn into_transport(mut self) -> Result<TransportState, NoiseError> {
        // The initiator sends with k1, the responder with k2.
        let (backend, k1, k2) = self.p.split()?;
        TransportState::new(backend, k2, k1)
    }
}
