using System.Security.Authentication;
using Grpc.Core;
using SineGrpc.Client.Cli;

namespace SineGrpc.Client.Tests.Cli;

public class RpcErrorsTests
{
    private static readonly Uri Plain = new("http://localhost:5000");
    private static readonly Uri Tls = new("https://localhost:5001");

    [Fact]
    public void Unavailable_asks_whether_the_server_runs_there()
    {
        var text = RpcErrors.Describe("ListModels", new RpcException(new Status(StatusCode.Unavailable, "Error connecting to subchannel.")), Plain);
        Assert.Equal(
            "error: ListModels failed with gRPC status Unavailable (14): Error connecting to subchannel.\n" +
            "hint: is the server running at http://localhost:5000/? Check the address (--server or $SINE_SERVER), and use http:// for a plain-text server or https:// for TLS.",
            text);
    }

    [Fact]
    public void An_untrusted_certificate_says_how_to_trust_it()
    {
        // What grpc-dotnet reports when the TLS handshake rejects the server's certificate.
        var handshake = new HttpRequestException("The SSL connection could not be established, see inner exception.",
            new AuthenticationException("The remote certificate is invalid because of errors in the certificate chain: UntrustedRoot"));
        var ex = new RpcException(new Status(StatusCode.Internal, "Error starting gRPC call.", handshake));

        var text = RpcErrors.Describe("ListModels", ex, Tls);
        Assert.StartsWith("error: ListModels failed with gRPC status Internal (13): Error starting gRPC call.", text);
        Assert.EndsWith("hint: the server's TLS certificate is not trusted here; for a self-signed or private-CA certificate, name it for this command: SSL_CERT_FILE=<its .crt> sine ...", text);
    }

    [Fact]
    public void Internal_on_a_plain_address_suggests_tls_and_other_internal_errors_have_no_hint()
    {
        var ex = new RpcException(new Status(StatusCode.Internal, "Bad gRPC response."));
        Assert.EndsWith("hint: if the server only accepts TLS, use an https:// address.", RpcErrors.Describe("Track", ex, Plain));
        Assert.DoesNotContain("hint:", RpcErrors.Describe("Track", ex, Tls));
    }
}
