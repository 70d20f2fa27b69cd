using System.Net;
using System.Net.Sockets;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Sine.V1;
using SineGrpc.Server.Hosting;

namespace SineGrpc.Server.Tests;

/// <summary>
/// A client that vanishes without closing its connection (a pulled cable, a NAT that
/// forgot it) must not hold its stream slot and memory for ever: the server's HTTP/2
/// keep-alive pings find it gone. On a server of its own with second-long ping settings.
/// </summary>
public sealed class KeepAliveTests : IAsyncLifetime
{
    private OwnServer _server = null!;

    public async Task InitializeAsync() => _server = await OwnServer.StartAsync("keepalive", new Dictionary<string, string?>
    {
        // Set the way an operator would, through Kestrel's own configuration keys.
        ["Kestrel:Limits:Http2:KeepAlivePingDelay"] = "00:00:01",
        ["Kestrel:Limits:Http2:KeepAlivePingTimeout"] = "00:00:01",
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Idle_stream_of_a_live_client_stays_open_and_one_whose_client_vanished_is_ended()
    {
        var slots = _server.App.Services.GetRequiredService<StreamSlots>();
        await using var proxy = new FreezableProxy(_server.Address.Port);
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{proxy.Port}");
        var client = new Segmentation.SegmentationClient(channel);
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        using (var call = client.Track())
        {
            await call.RequestStream.WriteAsync(TrackClient.Start(ServerFixture.TokenModel));
            await call.RequestStream.WriteAsync(TrackClient.Frame(0, SyntheticVideo.Jpeg(frame), TrackClient.TruthPrompt(truth, 1)));
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(1, slots.Open);

            // Idle for several ping periods: the client answers the pings, the stream stays.
            await Task.Delay(TimeSpan.FromSeconds(4));
            Assert.Equal(1, slots.Open);

            // The network goes silent: no answer to the next ping, the server drops the connection.
            proxy.Freeze();
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (slots.Open != 0 && DateTime.UtcNow < deadline)
                await Task.Delay(100);
            Assert.Equal(0, slots.Open);
        }
    }

    /// <summary>
    /// Forwards one TCP connection both ways until frozen; then it stops forwarding
    /// without closing either side, as a broken network path does.
    /// </summary>
    private sealed class FreezableProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _serving;
        private volatile bool _frozen;

        public FreezableProxy(int targetPort)
        {
            _listener.Start();
            _serving = ServeAsync(targetPort);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public void Freeze() => _frozen = true;

        private async Task ServeAsync(int targetPort)
        {
            using var downstream = await _listener.AcceptTcpClientAsync(_stop.Token);
            using var upstream = new TcpClient();
            await upstream.ConnectAsync(IPAddress.Loopback, targetPort, _stop.Token);
            await Task.WhenAll(PumpAsync(downstream.GetStream(), upstream.GetStream()), PumpAsync(upstream.GetStream(), downstream.GetStream()));
            // Hold both sockets open (frozen, not closed) until the test ends.
            await Task.Delay(Timeout.Infinite, _stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        private async Task PumpAsync(NetworkStream from, NetworkStream to)
        {
            var buffer = new byte[16384];
            try
            {
                while (!_frozen)
                {
                    var read = await from.ReadAsync(buffer, _stop.Token);
                    if (read == 0 || _frozen)
                        return;   // bytes that arrive after the freeze are lost
                    await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            try { await _serving; } catch (OperationCanceledException) { }
            _stop.Dispose();
        }
    }
}
