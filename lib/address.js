'use strict'
// Peer addresses as the server reports them: 16 bytes (IPv4 mapped into IPv6) + port.

const encoder = new TextEncoder()

function isMappedV4(a) {
  return a.subarray(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff))
}

/** Unix domain socket peers have no address: reported as [::]:0. */
function isNone(a) {
  return a.every((b) => b === 0)
}

/** 4 bytes for IPv4 peers, 16 for IPv6, none for Unix socket peers, as a fresh ArrayBuffer. */
function addressBytes(a) {
  if (isNone(a)) return new ArrayBuffer(0)
  return new Uint8Array(isMappedV4(a) ? a.subarray(12, 16) : a.subarray(0, 16)).buffer
}

/** Dotted text for IPv4 peers, RFC 5952 compressed text for IPv6. */
function addressText(a) {
  if (isNone(a)) return ''
  if (isMappedV4(a)) return `${a[12]}.${a[13]}.${a[14]}.${a[15]}`
  const groups = []
  for (let i = 0; i < 16; i += 2) groups.push(((a[i] << 8) | a[i + 1]).toString(16))
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > bestLen) {
      best = i
      bestLen = j - i
    }
    i = j
  }
  if (best < 0) return groups.join(':')
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`
}

/** The address text as a fresh ArrayBuffer, as getRemoteAddressAsText() returns it. */
function addressTextBuffer(a) {
  return encoder.encode(addressText(a)).buffer
}

module.exports = { addressText, addressBytes, addressTextBuffer }
