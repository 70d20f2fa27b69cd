using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SineGrpc.Engine.Sessions;
using SineGrpc.Engine.Tests.TestModels;

namespace SineGrpc.Engine.Tests.Sessions;

public sealed class OnnxComponentTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("sine-component-").FullName;

    [Fact]
    public async Task A_held_lease_makes_other_runs_wait_and_its_runs_are_counted()
    {
        var model = Path.Combine(TokenTestBundle.Build(Path.Combine(_folder, "bundle")), "encoder.onnx");
        var options = new EngineOptions { Device = "cpu", OnnxRuntime = { MaxConcurrentRunsPerSession = 1 } };
        var factory = new SessionFactory(Options.Create(options), NullLogger<SessionFactory>.Instance);
        using var encoder = factory.Create("encoder", model);   // one session, one run at a time

        using var image = encoder.InputMemory.Rent(3 * 16 * 16);
        image.Span.Fill(1f);
        Task other;
        using (var lease = await encoder.LeaseAsync())
        {
            using (var input = image.AsOrtValue(1, 3, 16, 16))
            using (lease.Run(["image"], [input], ["features"])) { }

            other = Task.Run(async () =>
            {
                using var input = image.AsOrtValue(1, 3, 16, 16);
                using var outputs = await encoder.RunAsync(["image"], [input], ["features"]);
            });
            await Task.Delay(300);
            Assert.False(other.IsCompleted, "a run went ahead while the only session was leased");
        }
        Assert.Same(other, await Task.WhenAny(other, Task.Delay(TimeSpan.FromSeconds(10))));
        await other;
        Assert.Equal(2, encoder.Runs);
    }

    [Fact]
    public async Task A_cancelled_wait_for_a_session_gives_up_its_place_and_takes_nothing()
    {
        var model = Path.Combine(TokenTestBundle.Build(Path.Combine(_folder, "bundle")), "encoder.onnx");
        var options = new EngineOptions { Device = "cpu", OnnxRuntime = { MaxConcurrentRunsPerSession = 1 } };
        var factory = new SessionFactory(Options.Create(options), NullLogger<SessionFactory>.Instance);
        using var encoder = factory.Create("encoder", model);

        using var cancel = new CancellationTokenSource();
        var held = await encoder.LeaseAsync();
        var waiting = encoder.LeaseAsync(cancel.Token).AsTask();
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted, "a second lease was granted while the only one was held");
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);

        // The cancelled wait took no session: once the holder is done, the next caller gets it at once.
        held.Dispose();
        var next = encoder.LeaseAsync().AsTask();
        Assert.Same(next, await Task.WhenAny(next, Task.Delay(TimeSpan.FromSeconds(5))));
        (await next).Dispose();
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
