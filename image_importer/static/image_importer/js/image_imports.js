/* The Image Imports tables.
 *
 * Running rows are polled every ajax_poll_interval (2.5 s by default)
 * for as long as they run: Horizon's own back-off stretches the wait by
 * one interval at each poll whose row did not change, to 30 s, and a
 * conversion or a slow server looks unchanged for a while.
 *
 * The cancel confirmation names its two choices, "Keep importing" and
 * "Stop Import", instead of Horizon's "Cancel" beside "Cancel Import".
 */
(function () {
  'use strict';
  var update = horizon.datatables.update;
  horizon.datatables.update = function () {
    $('#image_imports').removeAttr('decay_constant');
    return update.apply(this, arguments);
  };

  var confirm = horizon.datatables.confirm;
  horizon.datatables.confirm = function (action) {
    var result = confirm.apply(this, arguments);
    var $action = $(action);
    if ($action.closest('#image_imports').length &&
        /__action_cancel$/.test($action.attr('id') || '')) {
      $('#modal_wrapper > .modal').last().find('.modal-footer .cancel')
        .text(gettext('Keep importing'));
    }
    return result;
  };
})();

/* Imports of this user that ended while they were elsewhere: Horizon's
 * usual message on the next page they open, once (the server marks each
 * told). Pages without a logged-in user get no answer and show nothing.
 */
(function () {
  'use strict';
  function cookie(name) {
    var found = document.cookie.match('(?:^|;\\s*)' + name + '=([^;]*)');
    return found ? decodeURIComponent(found[1]) : '';
  }
  horizon.addInitFunction(function () {
    if (typeof WEBROOT === 'undefined' || !cookie('csrftoken')) {
      return;
    }
    $.ajax({
      type: 'POST',
      url: WEBROOT + 'project/image_imports/notices/',
      headers: {'X-CSRFToken': cookie('csrftoken')},
      dataType: 'json'
    }).done(function (answer) {
      $.each((answer && answer.notices) || [], function (index, notice) {
        horizon.alert(notice.level, notice.message);
      });
    });
  });
})();
