// Types for the two libmime functions phigate uses (the package ships none).
declare module 'libmime' {
  interface HeaderValue { value: string; params: Record<string, string> }
  const libmime: {
    decodeWords(str: string): string;
    parseHeaderValue(str: string): HeaderValue;
  };
  export default libmime;
}
