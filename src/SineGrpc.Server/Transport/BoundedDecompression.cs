using System.IO.Compression;
using Grpc.Core;
using Grpc.Net.Compression;

namespace SineGrpc.Server.Transport;

/// <summary>
/// gzip and deflate for compressed requests, refusing a message that inflates past
/// Limits:MaxMessageBytes. grpc-dotnet checks the limit against a message's compressed
/// length only, then inflates it whole into memory: a few megabytes of zeros would grow
/// into gigabytes before any handler or limit of the service could see the call.
/// </summary>
internal static class BoundedDecompression
{
    /// <summary>The providers grpc-dotnet would add by itself, each bounded to <paramref name="maxMessageBytes"/>.</summary>
    public static IEnumerable<ICompressionProvider> Providers(int maxMessageBytes) =>
    [
        new BoundedProvider(new GzipCompressionProvider(CompressionLevel.Fastest), maxMessageBytes),
        new BoundedProvider(new DeflateCompressionProvider(CompressionLevel.Fastest), maxMessageBytes),
    ];

    private sealed class BoundedProvider(ICompressionProvider inner, int maxMessageBytes) : ICompressionProvider
    {
        public string EncodingName => inner.EncodingName;

        public Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel) =>
            inner.CreateCompressionStream(stream, compressionLevel);

        public Stream CreateDecompressionStream(Stream stream) =>
            new BoundedReadStream(inner.CreateDecompressionStream(stream), maxMessageBytes, EncodingName);
    }

    /// <summary>Reads through to a decompression stream and throws once more than the limit has come out.</summary>
    private sealed class BoundedReadStream(Stream inner, int limit, string encoding) : Stream
    {
        private long _read;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var read = inner.Read(buffer);
            _read += read;
            if (_read > limit)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted,
                    $"a {encoding}-compressed message inflates to more than {limit} bytes, over Limits:MaxMessageBytes"));
            }
            return read;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
