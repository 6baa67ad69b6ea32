// Types for the libmime functions phigate uses (the package ships none).
declare module 'libmime' {
  interface HeaderValue { value: string; params: Record<string, string> }
  const libmime: {
    decodeWords(str: string): string;
    parseHeaderValue(str: string): HeaderValue;
    /** RFC 2047 encoded-words for non-ASCII text ('Q' or 'B'); ASCII text comes back unchanged */
    encodeWords(str: string, mimeWordEncoding?: 'Q' | 'B', maxLength?: number): string;
  };
  export default libmime;
}
